"""data/loader.py: the validation split, hand-written batching, pixel scaling, random shifts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from data.loader import (
    background,
    make_splits,
    num_batches,
    ordered_batches,
    random_shift,
    shuffled_batches,
    to_float,
    validation_indices,
)
from data.mnist import MNIST_MEAN, MNIST_STD, Dataset

CPU = torch.device("cpu")


def test_validation_split_is_deterministic_disjoint_and_sized() -> None:
    train_a, val_a = validation_indices(1000, 150, seed=3)
    train_b, val_b = validation_indices(1000, 150, seed=3)
    assert np.array_equal(train_a, train_b) and np.array_equal(val_a, val_b)
    assert len(train_a) == 850 and len(val_a) == 150
    assert not set(train_a) & set(val_a)
    assert set(train_a) | set(val_a) == set(range(1000))
    _, val_other = validation_indices(1000, 150, seed=4)
    assert not np.array_equal(val_a, val_other)


def test_zero_validation_split_keeps_everything_in_order() -> None:
    train, val = validation_indices(500, 0, seed=9)
    assert np.array_equal(train, np.arange(500)) and len(val) == 0


def test_make_splits_holds_out_the_validation_images(tiny_dataset: Dataset) -> None:
    splits = make_splits(tiny_dataset, 100, seed=1, standardize=False, device=CPU)
    assert len(splits.train) == 500 and splits.val is not None and len(splits.val) == 100
    assert len(splits.test) == 200
    assert splits.train.images.dtype == torch.float32 and splits.train.labels.dtype == torch.int64
    _, val_idx = validation_indices(600, 100, seed=1)
    expected = torch.from_numpy(tiny_dataset.train_images[val_idx].astype(np.float32)) / 255.0
    assert torch.equal(splits.val.images, expected)
    assert splits.val.labels.tolist() == tiny_dataset.train_labels[val_idx].tolist()
    assert torch.equal(
        splits.test.labels, torch.from_numpy(tiny_dataset.test_labels.astype(np.int64))
    )
    no_val = make_splits(tiny_dataset, 0, seed=1, standardize=False, device=CPU)
    assert no_val.val is None and len(no_val.train) == 600


def test_pixels_scaled_and_optionally_standardised() -> None:
    pixels = np.array([[0, 255, 51]], dtype=np.uint8)
    assert torch.allclose(to_float(pixels, False, CPU), torch.tensor([[0.0, 1.0, 0.2]]))
    standard = to_float(pixels, True, CPU)
    expected = (torch.tensor([[0.0, 1.0, 0.2]]) - MNIST_MEAN) / MNIST_STD
    assert torch.allclose(standard, expected)


@pytest.mark.parametrize(("n", "batch"), [(100, 32), (96, 32), (7, 10), (1, 1)])
def test_batches_cover_each_sample_once_last_partial(
    tiny_dataset: Dataset, n: int, batch: int
) -> None:
    split = make_splits(tiny_dataset, 0, 0, False, CPU).train
    split = type(split)(images=split.images[:n], labels=torch.arange(n))  # labels = identity
    batches = list(shuffled_batches(split, batch, torch.Generator().manual_seed(0)))
    assert len(batches) == num_batches(n, batch) == math.ceil(n / batch)
    sizes = [len(y) for _x, y in batches]
    assert sizes[:-1] == [batch] * (len(batches) - 1)
    assert sizes[-1] == n - batch * (len(batches) - 1)
    seen = torch.cat([y for _x, y in batches])
    assert sorted(seen.tolist()) == list(range(n))
    for x, y in batches:  # images travel with their labels
        assert torch.equal(x, split.images[y])


def test_shuffle_order_follows_the_generator(tiny_dataset: Dataset) -> None:
    split = make_splits(tiny_dataset, 0, 0, False, CPU).train

    def order(seed: int) -> list[int]:
        gen = torch.Generator().manual_seed(seed)
        labelled = type(split)(images=split.images, labels=torch.arange(len(split)))
        return torch.cat([y for _x, y in shuffled_batches(labelled, 64, gen)]).tolist()

    assert order(5) == order(5)
    assert order(5) != order(6)
    assert order(5) != list(range(len(split)))


def test_ordered_batches_keep_file_order(tiny_dataset: Dataset) -> None:
    split = make_splits(tiny_dataset, 0, 0, False, CPU).test
    batches = list(ordered_batches(split, 64))
    assert len(batches) == 4
    assert torch.equal(torch.cat([x for x, _y in batches]), split.images)


def _one_pixel_image(row: int, col: int) -> torch.Tensor:
    image = torch.zeros(28, 28)
    image[row, col] = 1.0
    return image.view(1, 784)


@pytest.mark.parametrize("max_shift", [1, 2, 3])
def test_shift_by_the_middle_offset_is_identity(max_shift: int) -> None:
    x = torch.rand(5, 784, generator=torch.Generator().manual_seed(0))
    shifts = torch.full((5, 2), max_shift)
    assert torch.equal(random_shift(x, shifts, max_shift), x)


def test_shift_moves_pixels() -> None:
    x = torch.cat([_one_pixel_image(10, 12)] * 3)
    # Offsets relative to max_shift=2: (+1, 0), (0, -2), (-2, +2).
    shifts = torch.tensor([[3, 2], [2, 0], [0, 4]])
    moved = random_shift(x, shifts, 2).view(3, 28, 28)
    # Output pixel (r, c) reads input (r + dr, c + dc): the content moves by (-dr, -dc).
    for image, (row, col) in zip(moved, [(9, 12), (10, 14), (12, 10)], strict=True):
        assert image[row, col] == 1.0 and image.sum() == 1.0


def test_shift_fills_with_zeros_at_the_border() -> None:
    x = torch.ones(1, 784)
    moved = random_shift(x, torch.tensor([[0, 2]]), 1).view(28, 28)  # down 1, left 1
    assert moved[0].sum() == 0 and moved[:, 27].sum() == 0
    assert moved[1:, :27].eq(1).all()


def test_shifted_in_pixels_are_the_background_value() -> None:
    black = background(standardize=True)
    assert black == pytest.approx(-0.1307 / 0.3081)
    for standardize in (False, True):  # bit for bit what the loader makes of a black pixel
        pixels = to_float(np.zeros((2, 784), dtype=np.uint8), standardize, torch.device("cpu"))
        assert (pixels == background(standardize)).all()
    x = torch.full((1, 784), black)
    moved = random_shift(x, torch.tensor([[0, 0]]), 2, fill=black)
    assert torch.equal(moved, x)  # a blank image stays blank wherever it moves
    assert background(standardize=False) == 0.0
