"""The public curation functions, each on its own."""

import numpy as np
import pytest

from wemd import catalog, curation


def test_crop_to_largest_square_is_centred():
    img = np.arange(6 * 10, dtype=np.float32).reshape(6, 10)
    sq = curation.crop_to_largest_square(img)
    assert sq.shape == (6, 6)
    np.testing.assert_array_equal(sq, img[:, 2:8])
    assert curation.crop_to_largest_square(img.T).shape == (6, 6)
    with pytest.raises(ValueError, match="2-D"):
        curation.crop_to_largest_square(np.zeros((2, 2, 2)))


def test_area_resize_integer_factor_is_exact_block_mean():
    rng = np.random.default_rng(0)
    img = rng.random((64, 96)).astype(np.float32)
    out = curation.area_resize(img, (16, 32))
    expected = img.reshape(16, 4, 32, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert out.dtype == np.float32


def test_area_resize_non_integer_antialiases_and_keeps_mean():
    rng = np.random.default_rng(1)
    noise = rng.poisson(3000, (250, 250)).astype(np.float32)
    out = curation.area_resize(noise, (96, 96))
    assert out.shape == (96, 96)
    assert abs(out.mean() - noise.mean()) < 0.01 * noise.mean()
    # antialiasing averages pixels: the noise shrinks well below the plain subsampled noise
    assert out.std() < 0.6 * noise.std()
    up = curation.area_resize(np.ones((10, 20), np.float32), (30, 60))
    np.testing.assert_allclose(up, 1.0, rtol=1e-6)


def test_dose_filter_and_minmax():
    assert curation.meets_dose(np.full((4, 4), 2500.0))
    assert not curation.meets_dose(np.full((4, 4), 2499.9))
    scaled = curation.minmax_scale(np.array([[2.0, 4.0], [6.0, 10.0]]))
    np.testing.assert_allclose(scaled, [[0, 0.25], [0.5, 1.0]])
    assert scaled.dtype == np.float32
    np.testing.assert_array_equal(curation.minmax_scale(np.full((3, 3), 7.0)), 0)
    with pytest.raises(ValueError, match="non-finite"):
        curation.minmax_scale(np.array([[np.nan, 1.0]]))


def test_curate_tem_chain():
    rng = np.random.default_rng(2)
    bright = rng.poisson(4000, (300, 400)).astype(np.float32)
    out = curation.curate_tem(bright, size=100)
    assert out.shape == (100, 100) and out.dtype == np.float32
    assert out.min() == 0.0 and out.max() == 1.0
    assert curation.curate_tem(bright / 4, size=100) is None  # 1000 counts/px: discarded


def test_non_overlapping_crops_tile_from_top_left():
    img = np.arange(1100 * 1600, dtype=np.float32).reshape(1100, 1600)
    crops = curation.non_overlapping_crops(img)
    assert len(crops) == 2 * 3
    np.testing.assert_array_equal(crops[0], img[:512, :512])
    np.testing.assert_array_equal(crops[4], img[512:1024, 512:1024])
    assert curation.non_overlapping_crops(np.zeros((511, 4096))) == []


def test_96x96_downsample_follows_the_authors_script():
    """small_stem_images.m: img(1:side, 1:side), then imresize(img, [96 96], 'method', 'box')."""
    img = np.tile(np.arange(384, dtype=np.float32), (192, 1))  # 192 x 384: top-left square 192
    small = curation.downsample_96(img)
    assert small.shape == (96, 96, 1) and small.dtype == np.float32
    np.testing.assert_allclose(small[0, :, 0], img[0, :192].reshape(96, 2).mean(axis=1))
    tall = np.arange(300 * 200, dtype=np.float64).reshape(300, 200)
    np.testing.assert_array_equal(curation.downsample_96(tall),
                                  curation.downsample_96(tall[:200, :200]))


def test_imresize_box_matches_matlab_contributions():
    # hand-worked MATLAB contributions: 3 -> 2 pixels (scale 2/3, box widened to 1.5):
    # output 1 sits at u = 1.25 and averages inputs 1 and 2; output 2 at u = 2.75 takes input 3
    np.testing.assert_allclose(curation.imresize_box(np.array([[1.0, 2.0, 4.0]]), (1, 2)),
                               [[1.5, 4.0]])
    rng = np.random.default_rng(4)
    img = rng.random((64, 96))
    np.testing.assert_allclose(curation.imresize_box(img, (16, 32)),
                               img.reshape(16, 4, 32, 3).mean(axis=(1, 3)), rtol=1e-6)
    weights = curation._box_weights(2048, 96)  # TEM 2048 -> 96: 21 or 22 pixels per output
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert set(np.count_nonzero(weights, axis=1)) <= {21, 22}
    np.testing.assert_allclose(curation.imresize_box(np.full((2048, 2048), 3.0), (96, 96)), 3.0)


def test_crop_96_is_the_top_left_region_or_zeros():
    """create_96x96_stem_crops.py: crops[i] = imread(f)[:96, :96]; a failed (short) assignment
    is skipped and the row stays zero."""
    img = np.arange(200 * 300, dtype=np.float32).reshape(200, 300)
    crop = curation.crop_96(img)
    assert crop.shape == (96, 96, 1) and crop.dtype == np.float32
    np.testing.assert_array_equal(crop[..., 0], img[:96, :96])
    np.testing.assert_array_equal(curation.crop_96(np.ones((40, 500))), 0)
    np.testing.assert_array_equal(curation.crop_96(np.ones((96, 96)))[..., 0], 1)


@pytest.mark.parametrize("name", ["stem_full", "tem_full", "wavefunctions", "cifs",
                                  "wavefunctions_single"])
def test_split_counts_follow_catalog_proportions(name):
    splits = catalog.get(name).splits
    for total in (3, 10, 37, 500):
        counts = curation.split_counts(total, splits)
        assert list(counts) == list(splits) and sum(counts.values()) == total
        assert min(counts.values()) >= 1
        for s, n in counts.items():
            assert abs(n - total * splits[s] / sum(splits.values())) <= 1.0 + (total < 20)


def test_partition_by_contributor_never_splits_a_contributor():
    people = ["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"] * 1 + ["e"] * 2 + ["f"] * 3
    ranges = curation.partition_by_contributor(people, {"train": 70, "val": 10, "test": 20})
    assert list(ranges) == ["train", "val", "test"]
    assert ranges["train"][0] == 0 and ranges["test"][1] == len(people)
    assert ranges["train"][1] == ranges["val"][0] and ranges["val"][1] == ranges["test"][0]
    groups = {s: set(people[a:b]) for s, (a, b) in ranges.items()}
    assert all(groups[s] for s in groups)
    assert not (groups["train"] & groups["val"] or groups["val"] & groups["test"]
                or groups["train"] & groups["test"])
    assert ranges["train"] == (0, 11)  # the contributor boundary nearest 70 % of 16
    with pytest.raises(ValueError, match="not grouped"):
        curation.partition_by_contributor(["a", "b", "a"], {"train": 1, "test": 1})
    with pytest.raises(ValueError, match="cannot fill"):
        curation.partition_by_contributor(["a", "a"], {"train": 1, "test": 1})
