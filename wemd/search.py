"""Old import path of :mod:`wemd.viz.search`, kept so ``from wemd.search import search`` works."""

from wemd.viz.search import *  # noqa: F401,F403
from wemd.viz.search import (INDEX_DIR, INDEX_VERSION, Hit, ImageLike, SearchError,  # noqa: F401
                             SearchIndex, build_index, index_cache_dir, read_image, search,
                             to_dataset_form, write_results_png)
