"""What the authors' public scripts did, where it differs from or adds to the papers.

Read from the scripts in the authors' public ``datasets`` repository (folders ``cropping/`` and
``create_96x96/``) and their table of the 19769 STEM image shapes (``stem_full_shapes/``). The
data cards print these under "How the authors' scripts made it"; ``wemd.curation`` and the
loaders follow the scripts.
"""

from __future__ import annotations

_SELECTION = ("Chapter 4 of the thesis speaks of 16227 STEM images (12170 / 1622 / 2435) giving "
              "the stem_crops counts; the authors' table of the 19769 image shapes, tiled into "
              "non-overlapping 512x512 crops and split contiguously 14826 / 1977 / 2966, gives "
              "exactly 110933 / 21259 / 28877 crops, so the crops come from all 19769 images and "
              "16227 was an earlier selection.")
_CROPS = ("`cropping/crop_arm_scans.py` takes the full images in directory order, the first "
          "int(0.75 N) for training, up to int(0.85 N) for validation and the rest for test "
          "(14826 / 1977 / 2966 of 19769), tiles each image from the top-left into "
          "non-overlapping 512x512 crops (images under 512 px on a side give none) and writes "
          "`{train,val,test}/{split}{k}.tif` with k counting from 1 in each split; wemd orders "
          "them numerically, so `train10.tif` follows `train9.tif`.")
_SMALL = ("`create_96x96/small_{stem,tem}_images.m` cut the largest square from the top-left "
          "corner (not the whole image, as the paper's 'area downsampled' suggests) and resize it "
          "with MATLAB `imresize(..., [96 96], 'method', 'box')`; `wemd.curation.downsample_96` "
          "does the same.")
_STACK = ("The 96x96 TIFFs were numbered 1..N and stacked by `convert_to_numpy*.py` in "
          "`os.listdir` order, which on the Windows drives the scripts name is alphabetical "
          "(1, 10, 100, ...), not numerical: the row order of the published array relative to "
          "the full images is not established, and its contiguous split is an assumption.")
_WAVES = ("`create_96x96/mini_wavefunctions.py` stacks (real, imaginary) of each 320x320 wave, "
          "resizes it with scikit-image `resize` to 96x96x2 (bilinear, antialiasing) and "
          "concatenates train, val and test in that order (each folder in `os.listdir` order) "
          "into `{name}.npy`.")

#: dataset -> notes (Markdown) on how the authors' scripts made it.
SCRIPT_NOTES: dict[str, tuple[str, ...]] = {
    "stem_full": (_SELECTION, "About 50 blank images, incomplete scans and noise-only images are "
                  "kept on purpose; `wemd stats` flags them (blank, noise_only, incomplete)."),
    "stem_crops": (_CROPS, _SELECTION),
    "stem_96x96": (_SMALL + " The array is `96x96.npy`.", _STACK),
    "stem_crops_96x96": (
        "`create_96x96/create_96x96_stem_crops.py` takes the top-left 96x96 region of each full "
        "image (the paper only says 'a crop'; wemd once took a random one); an image smaller "
        "than 96 px on a side, or one that failed to read, leaves its whole row zero. The "
        "script allocates the array as float64 (`np.zeros`) and saves it as "
        "`96x96_stem_crops.npy`. wemd reads that file (by its name) as the float32 items "
        "the paper states: each row is narrowed to float32 only if every value is exactly a "
        "float32 value (the script's pixels are), else the row is refused, never rounded; "
        "digests and fingerprints are of the float32 items. Any other float64 file is "
        "refused.",),
    "tem_96x96": (_SMALL + " The TEM script walks the train, val and test folders in that order "
                  "(so the rows are concatenated in partition order) and writes `96x96-tem.npy`.",
                  _STACK),
    "wavefunctions_96x96": (_WAVES.replace("{name}", "wavefunctions_n=3"),),
    "wavefunctions_96x96_restricted": (_WAVES.replace("{name}", "wavefunctions_restricted_n=3"),),
    "wavefunctions_96x96_single": (_WAVES.replace("{name}", "wavefunctions_single_n=3")
                                   + " There is no test folder (3861 / 964).",),
}
