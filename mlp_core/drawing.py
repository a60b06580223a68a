"""A drawn digit made into an MNIST input, the way MNIST's own digits were made.

LeCun, Cortes and Burges describe it: each NIST digit was size-normalised to fit a 20x20 box
keeping its aspect ratio, anti-aliased (so the result has grey levels), then placed in a 28x28
field so that its centre of mass sits at the centre. The network only knows digits made that
way; a digit drawn small in a corner of the canvas is far from anything it has seen, so the
canvas goes through the same steps before it is classified:

1. the bounding box of the ink (pixels above 0);
2. scaled so that its longer side is exactly 20 pixels, by area averaging: each output pixel is
   the ink area of the (scaled) drawing that covers it, which is exact anti-aliasing, up or down;
   a side that scales to a fraction of a pixel ends in a grey pixel;
3. pasted into 28x28 with an integer shift that puts its centre of mass at (14, 14) in pixel
   index coordinates, rounded half up. Measured on the bundled test set, MNIST's centres of mass
   average (13.99, 14.01) with a spread of 0.29, that of rounding to whole pixels.

The preprocessing is numpy only: arrays in, arrays out, cheap enough for the app to run on every
stroke. `classify` turns the result into the network's input as the checkpoint's config says.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from data.mnist import MNIST_MEAN, MNIST_STD
from mlp_core.model import MLP

SIDE = 28
BOX = 20
#: Where the centre of mass goes, in pixel index coordinates (row, column).
CENTRE = 14.0


def _overlap(n_in: int, scale: float) -> np.ndarray:
    """(n_out, n_in) matrix: how much of output pixel o the scaled input pixel i covers.

    Input pixel i spans [i·scale, (i+1)·scale) once scaled; output pixel o spans [o, o+1).
    Each entry is the length of their overlap, so `M @ v` is the area-averaged resampling.
    """
    n_out = max(1, math.ceil(n_in * scale - 1e-9))
    starts = np.arange(n_in) * scale
    ends = starts + scale
    out_lo = np.arange(n_out)[:, None]
    return np.clip(np.minimum(ends, out_lo + 1) - np.maximum(starts, out_lo), 0.0, None)


def ink_box(image: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the pixels above 0, bounds exclusive; None when blank."""
    rows = np.flatnonzero(image.max(axis=1) > 0)
    cols = np.flatnonzero(image.max(axis=0) > 0)
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def scale_to_box(crop: np.ndarray, box: int = BOX) -> np.ndarray:
    """The crop scaled so its longer side is `box` pixels, aspect kept, anti-aliased."""
    scale = box / max(crop.shape)
    rows, cols = _overlap(crop.shape[0], scale), _overlap(crop.shape[1], scale)
    return np.clip(rows @ crop @ cols.T, 0.0, 1.0)


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, column) of the ink's centre of mass, in pixel index coordinates."""
    total = image.sum()
    rows = (image.sum(axis=1) * np.arange(image.shape[0])).sum() / total
    cols = (image.sum(axis=0) * np.arange(image.shape[1])).sum() / total
    return float(rows), float(cols)


def paste_centred(scaled: np.ndarray) -> np.ndarray:
    """`scaled` placed in a blank 28x28 field with its centre of mass at (14, 14), rounded half
    up to a whole-pixel shift (no resampling blur); what falls outside is cut off."""
    com_row, com_col = centre_of_mass(scaled)
    top = math.floor(CENTRE - com_row + 0.5)
    left = math.floor(CENTRE - com_col + 0.5)
    field = np.zeros((SIDE, SIDE))
    height, width = scaled.shape
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + height, SIDE), min(left + width, SIDE)
    if r0 < r1 and c0 < c1:
        field[r0:r1, c0:c1] = scaled[r0 - top : r1 - top, c0 - left : c1 - left]
    return field


def preprocess(canvas: np.ndarray) -> np.ndarray:
    """A drawing (any 2-D shape, ink in [0, 1], 0 is blank) -> (28, 28) uint8 like MNIST's.

    A blank canvas gives a blank image. Steps: see the module docstring.
    """
    image = np.asarray(canvas, dtype=np.float64)
    box = ink_box(image)
    if box is None:
        return np.zeros((SIDE, SIDE), dtype=np.uint8)
    top, bottom, left, right = box
    field = paste_centred(scale_to_box(image[top:bottom, left:right]))
    return np.floor(field * 255 + 0.5).clip(0, 255).astype(np.uint8)


def network_input(pixels: np.ndarray, standardize: bool) -> torch.Tensor:
    """uint8 pixels (28, 28) or (784,) -> (1, 784) float32: /255, then standardised if the
    checkpoint's config says so (as `data.loader.to_float` does for the data set)."""
    x = torch.from_numpy(np.asarray(pixels, dtype=np.float32).reshape(1, SIDE * SIDE) / 255.0)
    if standardize:
        x = (x - MNIST_MEAN) / MNIST_STD
    return x


@torch.no_grad()
def classify(model: MLP, pixels: np.ndarray, standardize: bool) -> list[float]:
    """The ten class probabilities of one processed digit (plain floats, for the UI).

    One image through h<=2048 units is a few hundred thousand multiply-adds: well under a
    millisecond on the CPU (see README), so the app calls it on the UI thread.
    """
    x = network_input(pixels, standardize).to(model.fc1.weight.device)
    return [float(p) for p in model.predict_proba(x)[0].cpu()]
