"""The MNIST data layer: IDX reading and verification, the bundled files, device batching.

Nothing here imports the UI; numpy reads the files, torch holds the splits on the device.
"""

from __future__ import annotations

from data.idx import DatasetError, read_idx
from data.mnist import Dataset, load_dataset

__all__ = ["Dataset", "DatasetError", "load_dataset", "read_idx"]
