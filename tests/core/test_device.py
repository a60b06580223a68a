"""Device names: a malformed one is a DeviceError naming it, before CUDA is even asked."""

from __future__ import annotations

import pytest
import torch

from mlp_core.device import DeviceError, resolve_device


@pytest.mark.parametrize("spec", ["cuda:x", "cudax", "cuda:", "gpu", "cpu:0", ""])
def test_a_malformed_device_name_is_refused(spec: str) -> None:
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device(spec)


def test_cpu_and_auto_resolve_here() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
