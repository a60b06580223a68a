"""The training step's forward and backward as one CUDA graph (CUDA only; the CPU never comes
here).

Why: on a GPU the step at the default preset's shape is some 25 tiny kernels, each a few
microseconds of work behind a few microseconds of launch from Python; replaying a captured graph
launches them all at once. What is captured: the index gathers from the device-resident split,
the augmentation shift, `MLP.loss_and_backward` (so every gradient) and a copy of the loss.
What is not: the optimizer's update (its learning rate changes every step, and a captured
kernel's scalar arguments are fixed; its foreach calls are a handful of multi-tensor launches)
and the epoch's last, partial batch (other shapes), which runs eagerly as on the CPU.

Static buffers: the batch's indices (and shifts) are copied into tensors the graph reads, and
the graph writes the loss into one it owns; the layers' weights and gradients are updated in
place, so their memory never moves (`SoftmaxCrossEntropy` keeps one −1 column for every batch
size for the same reason). No step here waits for the GPU: there is no `.item()`, no host copy,
and the learning rate is computed on the host. Set MNIST_TUI_CUDA_GRAPH=0 to train without
graphs (to compare, or to rule them out).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch

#: The per-batch computation the graph captures: (indices, shifts or None) -> loss ().
LossFn = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]

#: Eager iterations on a side stream before capture (cuBLAS and the allocator warm up there, as
#: torch.cuda.graphs' documentation asks); they only overwrite gradients, never weights.
WARMUP_ITERATIONS = 3


def graphs_enabled() -> bool:
    """False when MNIST_TUI_CUDA_GRAPH=0 (read at each run's first step)."""
    return os.environ.get("MNIST_TUI_CUDA_GRAPH", "1") != "0"


class GraphedLoss:
    """A captured `loss_fn` for batches of exactly `batch_size` indices.

    Made by `graphed_loss` on a run's first full batch; replayed for every full batch after.
    """

    def __init__(self, loss_fn: LossFn, index: torch.Tensor, shifts: torch.Tensor | None):
        self.static_index = index.clone()
        self.static_shifts = None if shifts is None else shifts.clone()
        self.batch_size = int(index.shape[0])
        stream = torch.cuda.Stream(device=index.device)
        stream.wait_stream(torch.cuda.current_stream(index.device))
        with torch.cuda.stream(stream):
            for _ in range(WARMUP_ITERATIONS):
                loss_fn(self.static_index, self.static_shifts)
        torch.cuda.current_stream(index.device).wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.static_loss = loss_fn(self.static_index, self.static_shifts)

    def __call__(self, index: torch.Tensor, shifts: torch.Tensor | None) -> torch.Tensor:
        """Copy the batch in, replay, and return the graph's loss tensor (valid until the next
        replay: add it into an accumulator before calling again)."""
        self.static_index.copy_(index, non_blocking=True)
        if self.static_shifts is not None and shifts is not None:
            self.static_shifts.copy_(shifts, non_blocking=True)
        self.graph.replay()
        return self.static_loss


def graphed_loss(
    owner: Any, loss_fn: LossFn, index: torch.Tensor, shifts: torch.Tensor | None
) -> torch.Tensor:
    """The loss of one batch on CUDA: through `owner`'s graph when the batch is full-sized.

    `owner` (the run) keeps its graph as an attribute, made on its first full batch: a run's
    split, model and batch size never change, and a new run (a resume, a fork) captures anew.
    A batch of another size (the last of an epoch) runs `loss_fn` eagerly.
    """
    graph: GraphedLoss | None = getattr(owner, "_cuda_graph", None)
    if graph is None and graphs_enabled() and index.shape[0] == owner.config.batch_size:
        graph = GraphedLoss(loss_fn, index, shifts)
        owner._cuda_graph = graph
    if graph is not None and index.shape[0] == graph.batch_size:
        return graph(index, shifts)
    return loss_fn(index, shifts)
