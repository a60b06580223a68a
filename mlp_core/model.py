"""The network: 784 -> hidden -> 10 with ReLU, softmax and cross-entropy, all by hand."""

from __future__ import annotations

import torch

from mlp_core.layers import Linear, ReLU, SoftmaxCrossEntropy, WeightFold, column_major

INPUT_SIZE = 784
NUM_CLASSES = 10
PARAMETER_NAMES = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")


def parameter_shapes(hidden: int) -> dict[str, tuple[int, ...]]:
    """Each parameter's shape, by PyTorch name, for a network of `hidden` units."""
    return {
        "fc1.weight": (hidden, INPUT_SIZE),
        "fc1.bias": (hidden,),
        "fc2.weight": (NUM_CLASSES, hidden),
        "fc2.bias": (NUM_CLASSES,),
    }


class MLP:
    """fc1 -> ReLU -> fc2 -> softmax cross-entropy.

    `loss_and_backward` is the training step's whole compute; `logits` is inference only and
    caches nothing for backward beyond the layers' last input.
    """

    def __init__(self, fc1: Linear, fc2: Linear) -> None:
        self.fc1 = fc1
        self.relu = ReLU()
        self.fc2 = fc2
        self.criterion = SoftmaxCrossEntropy()
        #: The dtype of the training step's matrix products (bf16), or None: the weights' own
        #: (see mlp_core/precision.py). Inference (`logits`) always runs on the float32 weights.
        self.compute_dtype: torch.dtype | None = None
        #: The value of a blank pixel as the network sees it (`data.loader.background`), or
        #: None. Where set, the training step's first layer leaves out the input columns blank
        #: in the whole batch (on the CPU: mlp_core/layers.py, `_BlankColumns`).
        self.blank_input: float | None = None

    @classmethod
    def create(
        cls, hidden: int, init: str, generator: torch.Generator, device: torch.device
    ) -> MLP:
        """A freshly initialised network (weights drawn on the CPU, then moved)."""
        fc1 = Linear.initialised(
            INPUT_SIZE, hidden, init, generator, device, needs_input_grad=False
        )
        fc2 = Linear.initialised(hidden, NUM_CLASSES, init, generator, device)
        return cls(fc1, fc2)

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor], device: torch.device) -> MLP:
        """Rebuild from `fc1.weight`, `fc1.bias`, `fc2.weight`, `fc2.bias` (checked shapes)."""
        w1, b1, w2, b2 = (state[name].to(device, torch.float32) for name in PARAMETER_NAMES)
        expected = parameter_shapes(w1.shape[0])
        for name, tensor in zip(PARAMETER_NAMES, (w1, b1, w2, b2), strict=True):
            if tuple(tensor.shape) != expected[name]:
                raise ValueError(
                    f"{name} has shape {tuple(tensor.shape)}, expected {expected[name]}"
                )
        # Copies, never the caller's tensors; weights in the layout `Linear.initialised` uses.
        w1, b1, w2, b2 = column_major(w1), b1.clone(), column_major(w2), b2.clone()
        return cls(Linear(w1, b1, needs_input_grad=False), Linear(w2, b2))

    @property
    def hidden(self) -> int:
        return int(self.fc1.weight.shape[0])

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 784) -> logits: (N, 10), on the weights as they are (inference: float32)."""
        return self._forward(x, None)

    def _forward(
        self, x: torch.Tensor, compute_dtype: torch.dtype | None, blank: float | None = None
    ) -> torch.Tensor:
        """The logits, products in `compute_dtype`, returned in the weights' dtype."""
        hidden = self.relu.forward(self.fc1.forward(x, compute_dtype, blank))
        return self.fc2.forward(hidden, compute_dtype).to(self.fc2.weight.dtype)

    def loss_and_backward(
        self,
        x: torch.Tensor,
        labels: torch.Tensor,
        folds: dict[str, WeightFold] | None = None,
        keep_gradients: bool = True,
    ) -> torch.Tensor:
        """Forward, loss and backward; fills every parameter's gradient. Returns the loss ().

        The products run in `compute_dtype`; the softmax cross-entropy and its gradient, the
        gradients' storage and the loss are float32 (the weights' dtype) whatever it is.
        folds: "fc1.weight" and "fc2.weight" -> the optimizer's folded update of that weight
        (mlp_core/optim.py, "Folding"): those weights are then updated here, and their
        gradients filled only when keep_gradients.
        """
        folds = folds or {}
        logits = self._forward(x, self.compute_dtype, self.blank_input)
        loss = self.criterion.forward(logits, labels)
        grad = self.fc2.backward(
            self.criterion.backward(grad_loss=1.0), folds.get("fc2.weight"), keep_gradients
        )
        assert grad is not None
        self.fc1.backward(self.relu.backward(grad), folds.get("fc1.weight"), keep_gradients)
        return loss

    def named_parameters(self) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        """(PyTorch-style name, parameter, gradient) for every parameter."""
        pairs = self.fc1.parameters() + self.fc2.parameters()
        return [(name, p, g) for name, (p, g) in zip(PARAMETER_NAMES, pairs, strict=True)]

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Parameters by PyTorch name (the tensors themselves, not copies)."""
        return {name: p for name, p, _ in self.named_parameters()}

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax probabilities (N, 10), computed stably."""
        logits = self.logits(x)
        return (logits - logits.logsumexp(dim=1, keepdim=True)).exp_()
