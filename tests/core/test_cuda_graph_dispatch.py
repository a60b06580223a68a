"""Which batches go through the captured graph (mlp_core/cuda_graph.py), checked on any machine
with a stand-in for the graph: capture happens once per run, on its first full batch; batches of
another size and MNIST_TUI_CUDA_GRAPH=0 run the loss eagerly."""

from __future__ import annotations

from types import SimpleNamespace
from typing import ClassVar

import pytest
import torch

import mlp_core.cuda_graph as cuda_graph


class FakeGraph:
    made: ClassVar[list[FakeGraph]] = []

    def __init__(self, loss_fn: object, index: torch.Tensor, shifts: object) -> None:
        self.batch_size = int(index.shape[0])
        self.replays = 0
        FakeGraph.made.append(self)

    def __call__(self, index: torch.Tensor, shifts: torch.Tensor | None) -> torch.Tensor:
        self.replays += 1
        return torch.tensor(-1.0)


@pytest.fixture
def fake_graph(monkeypatch: pytest.MonkeyPatch) -> type[FakeGraph]:
    FakeGraph.made = []
    monkeypatch.setattr(cuda_graph, "GraphedLoss", FakeGraph)
    return FakeGraph


def eager_loss(index: torch.Tensor, shifts: torch.Tensor | None) -> torch.Tensor:
    return torch.tensor(float(index.shape[0]))


def test_full_batches_replay_one_graph_and_the_partial_one_runs_eagerly(
    fake_graph: type[FakeGraph],
) -> None:
    run = SimpleNamespace(config=SimpleNamespace(batch_size=4))
    losses = [
        cuda_graph.graphed_loss(run, eager_loss, torch.arange(n), None).item() for n in (4, 4, 2)
    ]
    assert losses == [-1.0, -1.0, 2.0]  # two replays, then the partial batch's own loss
    assert len(fake_graph.made) == 1 and fake_graph.made[0].replays == 2
    assert run._cuda_graph is fake_graph.made[0]


def test_a_run_whose_first_batch_is_partial_captures_on_its_first_full_one(
    fake_graph: type[FakeGraph],
) -> None:
    run = SimpleNamespace(config=SimpleNamespace(batch_size=4))
    assert cuda_graph.graphed_loss(run, eager_loss, torch.arange(3), None).item() == 3.0
    assert fake_graph.made == []
    cuda_graph.graphed_loss(run, eager_loss, torch.arange(4), None)
    assert len(fake_graph.made) == 1


def test_graphs_can_be_switched_off(
    fake_graph: type[FakeGraph], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MNIST_TUI_CUDA_GRAPH", "0")
    run = SimpleNamespace(config=SimpleNamespace(batch_size=4))
    assert cuda_graph.graphed_loss(run, eager_loss, torch.arange(4), None).item() == 4.0
    assert fake_graph.made == []
