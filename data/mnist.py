"""Locate, verify and load an IDX data set in the MNIST four-file layout.

The bundled copy (``data/files``) is MNIST by Yann LeCun, Corinna Cortes and Christopher J.C.
Burges, CC BY-SA 3.0. It is always checked against the official md5 of the decompressed
content: a damaged install is an error, not a silently worse model. A user's directory
(``--data-dir``) may hold any data set in the same layout (Fashion-MNIST, a private set): files
that match the official checksums are named MNIST, others are used with a one-line note.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.idx import IMAGES_MAGIC, LABELS_MAGIC, DatasetError, IdxFile, read_idx

BUNDLED_DIR = Path(__file__).resolve().parent / "files"

#: The four files of the layout, by role: (file stem, IDX magic).
LAYOUT: dict[str, tuple[str, int]] = {
    "train_images": ("train-images-idx3-ubyte", IMAGES_MAGIC),
    "train_labels": ("train-labels-idx1-ubyte", LABELS_MAGIC),
    "test_images": ("t10k-images-idx3-ubyte", IMAGES_MAGIC),
    "test_labels": ("t10k-labels-idx1-ubyte", LABELS_MAGIC),
}

#: Outputs of the network (mlp_core.model.NUM_CLASSES; not imported: data stays independent).
NUM_CLASSES = 10

#: Official md5 of the decompressed MNIST files (yann.lecun.com), by role.
MNIST_MD5: dict[str, str] = {
    "train_images": "6bbc9ace898e44ae57da46a324031adb",
    "train_labels": "a25bea736e30d166cdddb491f175f624",
    "test_images": "2646ac647ad5339dbf082846283269ea",
    "test_labels": "27ae3e4e09519cfbb04c329615203637",
}

#: Training-set pixel statistics of MNIST after scaling to [0, 1] (used for standardisation).
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


@dataclass(frozen=True)
class Dataset:
    """An IDX data set in memory, as uint8 arrays straight from the files.

    train_images: (N, 784) uint8; train_labels: (N,) uint8; likewise test_*.
    name: "MNIST" when every checksum matches, else the directory name.
    verified: True when the files match the official MNIST checksums.
    note: a one-line remark for the user (unverified files), or None.
    """

    name: str
    source: Path
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    verified: bool
    note: str | None = None


def find_file(directory: Path, stem: str) -> Path:
    """Return `stem.gz` or the raw `stem` in `directory`, preferring the gzip copy."""
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    raise DatasetError(f"{directory / stem}[.gz]: file is missing")


def _check_pair(images: IdxFile, labels: IdxFile, split: str) -> None:
    """Images and labels of one split must agree in count; labels must be one of the network's
    NUM_CLASSES outputs (a label of 10 would only fail later, deep inside a training step)."""
    if images.array.shape[0] != labels.array.shape[0]:
        raise DatasetError(
            f"{labels.path}: {labels.array.shape[0]} labels but {images.path.name} has "
            f"{images.array.shape[0]} images ({split} split count mismatch)"
        )
    largest = int(labels.array.max())
    if largest >= NUM_CLASSES:
        raise DatasetError(
            f"{labels.path}: label {largest} found, the network has {NUM_CLASSES} classes "
            f"(0 to {NUM_CLASSES - 1})"
        )


def load_dataset(data_dir: Path | str | None = None) -> Dataset:
    """Load the bundled MNIST (``data_dir=None``) or the four IDX files in `data_dir`."""
    bundled = data_dir is None
    directory = BUNDLED_DIR if bundled else Path(data_dir).expanduser()
    if not bundled and not directory.is_dir():
        raise DatasetError(f"{directory}: data directory does not exist")
    files = {
        role: read_idx(find_file(directory, stem), magic) for role, (stem, magic) in LAYOUT.items()
    }
    _check_pair(files["train_images"], files["train_labels"], "train")
    _check_pair(files["test_images"], files["test_labels"], "test")
    train_shape = files["train_images"].array.shape[1:]
    test_shape = files["test_images"].array.shape[1:]
    if train_shape != test_shape:
        raise DatasetError(
            f"{files['test_images'].path}: images are {test_shape}, training images are "
            f"{train_shape}"
        )
    if train_shape != (28, 28):
        raise DatasetError(
            f"{files['train_images'].path}: images are {train_shape[0]}x{train_shape[1]}, "
            "the network takes 28x28"
        )
    mismatched = [role for role, md5 in MNIST_MD5.items() if files[role].md5 != md5]
    if bundled and mismatched:
        names = ", ".join(files[role].path.name for role in mismatched)
        raise DatasetError(
            f"{directory}: bundled MNIST is damaged, checksum mismatch in {names}; reinstall"
        )
    verified = not mismatched
    note = None
    if not verified:
        note = (
            f"{directory}: files do not match the MNIST checksums; "
            "using them as an unverified data set"
        )
    return Dataset(
        name="MNIST" if verified else directory.resolve().name,
        source=directory,
        train_images=files["train_images"].array.reshape(-1, 784),
        train_labels=files["train_labels"].array,
        test_images=files["test_images"].array.reshape(-1, 784),
        test_labels=files["test_labels"].array,
        verified=verified,
        note=note,
    )


def write_idx(path: Path, array: np.ndarray, gzip_it: bool = True) -> None:
    """Write a uint8 array as an IDX file (used by tests and to export small sets)."""
    magic = IMAGES_MAGIC if array.ndim == 3 else LABELS_MAGIC
    header = struct.pack(">i", magic) + struct.pack(f">{array.ndim}i", *array.shape)
    content = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.write_bytes(gzip.compress(content, mtime=0) if gzip_it else content)
