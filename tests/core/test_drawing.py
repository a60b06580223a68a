"""The preprocessing of a drawn digit (MNIST's recipe) against arrays worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data.mnist import MNIST_MEAN, MNIST_STD, load_dataset
from mlp_core.drawing import centre_of_mass, network_input, preprocess, scale_to_box


def test_a_small_l_is_scaled_to_20_and_centred_by_its_mass() -> None:
    # An L in a 10x10 box in the top-right corner: a 2-pixel stem and a 2-pixel foot.
    canvas = np.zeros((28, 28))
    canvas[1:11, 16:18] = 1.0
    canvas[9:11, 16:26] = 1.0
    # Scaled x2 to 20x20: stem columns 0-3, foot rows 16-19; 144 pixels of ink. Row centre
    # (4·190 + 16·70) / 144 = 13.06, column centre (20·6 + 4·184) / 144 = 5.94: shifts of
    # round(14 - 13.06) = 1 row and round(14 - 5.94) = 8 columns.
    expected = np.zeros((28, 28), dtype=np.uint8)
    expected[1:21, 8:12] = 255
    expected[17:21, 8:28] = 255
    np.testing.assert_array_equal(preprocess(canvas), expected)


def test_a_bar_scaled_by_a_fraction_ends_in_a_grey_column() -> None:
    # 8 rows x 3 columns: the scale 20/8 = 2.5 makes it 20 x 7.5, the last column half ink.
    canvas = np.zeros((28, 28))
    canvas[3:11, 2:5] = 1.0
    scaled = scale_to_box(canvas[3:11, 2:5])
    assert scaled.shape == (20, 8)
    np.testing.assert_allclose(scaled[:, :7], 1.0)
    np.testing.assert_allclose(scaled[:, 7], 0.5)
    # Centre of mass (9.5, (21*20 + 7*10)/150 = 3.27): rows shift by 4.5, rounded up to 5;
    # columns by 10.73, to 11.
    assert centre_of_mass(scaled) == pytest.approx((9.5, 490 / 150))
    expected = np.zeros((28, 28), dtype=np.uint8)
    expected[5:25, 11:18] = 255
    expected[5:25, 18] = 128  # 0.5 * 255 = 127.5, rounded half up
    np.testing.assert_array_equal(preprocess(canvas), expected)


def test_downscaling_averages_areas() -> None:
    # A full 28x28 crop inked in its top 8 rows: scale 20/28, so output row r covers input
    # rows [1.4r, 1.4r + 1.4): rows 0-4 all ink, row 5 covers [7, 8.4), ink on 1/1.4 of it.
    crop = np.zeros((28, 28))
    crop[:8] = 1.0
    scaled = scale_to_box(crop)
    assert scaled.shape == (20, 20)
    np.testing.assert_allclose(scaled[:5], 1.0)
    np.testing.assert_allclose(scaled[5], 1 / 1.4)
    np.testing.assert_allclose(scaled[6:], 0.0, atol=1e-12)


def test_blank_canvas_is_a_blank_image() -> None:
    assert not preprocess(np.zeros((28, 28))).any()


def test_mnist_digits_come_back_almost_unchanged() -> None:
    """MNIST's own test digits already are 20 pixels tall and centred: the recipe is theirs."""
    images = load_dataset().test_images[:300].reshape(-1, 28, 28)
    errors = [np.abs(preprocess(i / 255).astype(int) - i).max() for i in images]
    tall = [i for i in images if np.ptp(np.flatnonzero(i.max(axis=1))) == 19]
    assert len(tall) > 250
    assert np.mean(np.array(errors) <= 1) > 0.95


def test_network_input_standardises_as_the_config_says() -> None:
    pixels = np.full((28, 28), 255, dtype=np.uint8)
    torch.testing.assert_close(network_input(pixels, False), torch.ones(1, 784))
    standard = torch.full((1, 784), (1 - MNIST_MEAN) / MNIST_STD)
    torch.testing.assert_close(network_input(pixels, True), standard)
