"""Device-resident splits and hand-written batching (no torch DataLoader).

Each split is one float tensor on the training device, converted once. An epoch draws one
permutation from a seeded CPU generator (so the order is the same on every device and can be
saved in a checkpoint) and slices ceil(n / batch) batches from it, the last one partial, as the
lab's DataLoader did. There is no per-sample Python loop.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from data.mnist import MNIST_MEAN, MNIST_STD, Dataset


@dataclass(frozen=True)
class Split:
    """One split on the device. images: (N, 784) float32; labels: (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class Splits:
    """Train, validation (possibly empty) and test splits on one device."""

    train: Split
    val: Split | None
    test: Split


def to_float(images: np.ndarray, standardize: bool, device: torch.device) -> torch.Tensor:
    """uint8 pixels (N, 784) -> float32 on `device`: /255, then (x - mean) / std if asked."""
    tensor = torch.from_numpy(np.array(images, dtype=np.uint8)).to(
        device=device, dtype=torch.float32
    )
    tensor.div_(255.0)
    if standardize:
        tensor.sub_(MNIST_MEAN).div_(MNIST_STD)
    return tensor


def validation_indices(n_train: int, val_split: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train_idx, val_idx) from `seed`; 0 keeps every image for training."""
    if val_split == 0:
        return np.arange(n_train), np.arange(0)
    order = np.random.default_rng(seed).permutation(n_train)
    return np.sort(order[val_split:]), np.sort(order[:val_split])


def make_splits(
    dataset: Dataset, val_split: int, seed: int, standardize: bool, device: torch.device
) -> Splits:
    """Hold `val_split` training images out for validation and put every split on `device`."""
    train_idx, val_idx = validation_indices(len(dataset.train_labels), val_split, seed)

    def split(images: np.ndarray, labels: np.ndarray) -> Split:
        return Split(
            images=to_float(images, standardize, device),
            labels=torch.from_numpy(labels.astype(np.int64)).to(device),
        )

    train = split(dataset.train_images[train_idx], dataset.train_labels[train_idx])
    val = (
        split(dataset.train_images[val_idx], dataset.train_labels[val_idx])
        if len(val_idx)
        else None
    )
    test = split(dataset.test_images, dataset.test_labels)
    return Splits(train=train, val=val, test=test)


def num_batches(n: int, batch_size: int) -> int:
    """ceil(n / batch_size): the last partial batch is kept."""
    return math.ceil(n / batch_size)


def shuffled_indices(
    split: Split, batch_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, ...]:
    """The epoch's batches as index tensors: ceil(n / batch_size) slices, the last partial, of
    one random permutation of `split` (what the trainer iterates).

    The permutation comes from `generator` (a CPU generator, so the order is the same on every
    device and can be saved in a checkpoint) and moves to the device once.
    """
    order = torch.randperm(len(split), generator=generator).to(split.images.device)
    return order.split(batch_size)


def shuffled_batches(
    split: Split, batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (x: (B, 784), y: (B,)) over `shuffled_indices`: index gathers on the device."""
    for index in shuffled_indices(split, batch_size, generator):
        yield split.images.index_select(0, index), split.labels.index_select(0, index)


def ordered_batches(split: Split, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield contiguous slices of `split` in file order (evaluation needs no shuffle)."""
    for start in range(0, len(split), batch_size):
        yield split.images[start : start + batch_size], split.labels[start : start + batch_size]


def background(standardize: bool) -> float:
    """The value of a blank (black) pixel as the network sees it: exactly what `to_float`
    makes of a 0 (its float32 arithmetic, not -mean/std in float64, which differs in the last
    bit), so that a blank pixel compares equal to it (the first layer skips the columns a
    batch holds blank: mlp_core/layers.py)."""
    zero = np.zeros((1, 1), dtype=np.uint8)
    return float(to_float(zero, standardize, torch.device("cpu"))[0, 0])


def random_shift(
    x: torch.Tensor, shifts: torch.Tensor, max_shift: int, fill: float = 0.0
) -> torch.Tensor:
    """Translate each image of x: (B, 784) by its own offset; shifts: (B, 2) in [0, 2·max_shift].

    An offset of `max_shift` is no move; pixels shifted in are `fill`, the background (see
    `background`: a standardised black pixel is not 0). Batched: the images are padded once and
    each output pixel gathers from its shifted position. The caller draws `shifts` from the
    run's seeded CPU generator, once per epoch, so the run stays reproducible and sync-free.
    """
    batch = x.shape[0]
    size = 28 + 2 * max_shift
    padded = x.new_full((batch, size, size), fill)
    padded[:, max_shift : max_shift + 28, max_shift : max_shift + 28] = x.view(batch, 28, 28)
    grid = torch.arange(28, device=x.device)
    rows = (shifts[:, 0:1] + grid).unsqueeze(2)  # (B, 28, 1)
    cols = (shifts[:, 1:2] + grid).unsqueeze(1)  # (B, 1, 28)
    index = (rows * size + cols).view(batch, 784)
    return padded.view(batch, size * size).gather(1, index)
