"""Mixed precision: which dtype the training step's matrix products run in, and whether the
device can run it.

- fp32: everything in float32 (the default, and what checkpoints always hold).
- bf16: the matrix products of the training step take bfloat16 operands (float32 accumulation
  inside the GEMM); the master weights, their gradients, the optimizer state and the softmax
  cross-entropy stay float32, so the update itself loses nothing. Evaluation runs in float32 on
  the master weights, so the accuracy a run reports is the accuracy of its (float32) checkpoint,
  the one `mnist-tui eval` measures.
- tf32: float32 tensors, CUDA's TensorFloat-32 tensor cores for the products (10-bit mantissa
  operands, float32 accumulation). CUDA only.

Why bf16 pays on a CPU only sometimes: a CPU with AVX512-BF16 or AMX multiplies bf16 matrices
several times faster than float32 (measured 5x at 128x784 @ 784x1024 on one thread of a
Sapphire Rapids Xeon); without them oneDNN emulates bf16 and gains little or nothing.
`cpu_bf16_flags` says which of those the CPU has; the benchmarks print it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from mlp_core.config import PRECISIONS

__all__ = ["PRECISIONS", "compute_dtype", "precision_problem"]


def compute_dtype(precision: str) -> torch.dtype | None:
    """The dtype of the training step's matmul operands; None means the weights' own."""
    return torch.bfloat16 if precision == "bf16" else None


def cpu_bf16_flags() -> list[str]:
    """The CPU's native bf16 features (from /proc/cpuinfo's flags): avx512_bf16, amx_bf16."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return [name for name in ("avx512_bf16", "amx_bf16") if name in flags]
    return []


def precision_problem(precision: str, device: torch.device) -> str | None:
    """Why `device` cannot train in `precision`, or None when it can (checked at run start).

    CPU bf16 needs oneDNN's bf16 path (torch.ops.mkldnn._is_mkldnn_bf16_supported: AVX-512 or
    newer) and a tiny bf16 product that comes out right; CUDA bf16 needs
    torch.cuda.is_bf16_supported(); tf32 needs CUDA on an Ampere or newer card.
    """
    if precision == "fp32":
        return None
    if precision == "tf32":
        if device.type != "cuda":
            return f"precision tf32 needs a CUDA device, not {device.type}; use fp32 or bf16"
        if torch.cuda.get_device_capability(device) < (8, 0):
            name = torch.cuda.get_device_name(device)
            return f"precision tf32 needs an Ampere or newer GPU; {name} has no TF32 cores"
        return None
    if device.type == "cuda":
        if not torch.cuda.is_bf16_supported():
            name = torch.cuda.get_device_name(device)
            return f"precision bf16 is not supported on {name}; use fp32"
        return None
    return _cpu_bf16_problem()


def _cpu_bf16_problem() -> str | None:
    if not (torch.backends.mkldnn.is_available() and _mkldnn_bf16_supported()):
        return (
            "precision bf16 needs a CPU with AVX-512 (best with AVX512-BF16 or AMX) and a torch "
            "built with oneDNN; this one has neither: use fp32"
        )
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.bfloat16)
    try:
        product = (a @ a).float()
    except RuntimeError as exc:
        return f"precision bf16: this CPU cannot multiply bf16 matrices ({exc}); use fp32"
    if not torch.equal(product, torch.tensor([[7.0, 10.0], [15.0, 22.0]])):
        return "precision bf16: a bf16 matrix product came out wrong on this CPU; use fp32"
    return None


def _mkldnn_bf16_supported() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def apply_matmul_precision(precision: str, device: torch.device) -> None:
    """Let CUDA float32 products use TF32 exactly when the run asks for tf32.

    A process-wide torch setting: each run sets it from its own config at start, so a run
    never inherits another's (a run is its own process, and an in-process caller gets the
    setting of the run it started last).
    """
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
