"""PyTorch adapter: a map-style ``torch.utils.data.Dataset`` over a WEMD split.

It holds the dataset object, which holds only paths and index ranges: DataLoader workers get a
small pickle and reopen memory maps themselves, so no data array is ever pickled.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from wemd.errors import require

torch = require("torch", "torch")


class TorchDataset(torch.utils.data.Dataset):
    """Items as float tensors (complex wavefunctions as complex64 tensors)."""

    def __init__(self, dataset: Any, transform: Optional[Callable[[Any], Any]] = None):
        self.dataset = dataset
        self.transform = transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> Any:
        item = self.dataset[i]
        if isinstance(item, np.ndarray):
            item = torch.from_numpy(np.ascontiguousarray(item))
        return self.transform(item) if self.transform is not None else item
