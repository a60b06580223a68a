"""What the hidden units learned, as plain arrays: each unit's 784 incoming weights as a 28x28
image, orders to page through them, and which units a digit activates.

Hidden unit u computes relu(W₁[u] · x + b₁[u]): its row W₁[u] of fc1.weight, laid out as the
28x28 image it is multiplied with, is the pattern it responds to (positive where ink excites it,
negative where ink inhibits it). Its column W₂[:, u] of fc2.weight says how it votes for each of
the ten classes. The app's weights screen draws these; nothing here imports the UI.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mlp_core.drawing import network_input

SIDE = 28


@dataclass(frozen=True, eq=False)
class UnitWeights:
    """The weights of a checkpoint by hidden unit, as numpy float32 arrays.

    incoming: (hidden, 28, 28), fc1.weight's rows; bias: (hidden,);
    outgoing: (hidden, 10), fc2.weight's columns; fc2_bias: (10,).
    """

    incoming: np.ndarray
    bias: np.ndarray
    outgoing: np.ndarray
    fc2_bias: np.ndarray

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> UnitWeights:
        w1 = state["fc1.weight"].detach().to("cpu", torch.float32).numpy()
        return cls(
            incoming=w1.reshape(-1, SIDE, SIDE).copy(),
            bias=state["fc1.bias"].detach().to("cpu", torch.float32).numpy().copy(),
            outgoing=state["fc2.weight"].detach().to("cpu", torch.float32).numpy().T.copy(),
            fc2_bias=state["fc2.bias"].detach().to("cpu", torch.float32).numpy().copy(),
        )

    @property
    def hidden(self) -> int:
        return int(self.incoming.shape[0])

    def norms(self) -> np.ndarray:
        """‖W₁[u]‖₂ of each unit (hidden,)."""
        return np.sqrt((self.incoming.astype(np.float64) ** 2).sum(axis=(1, 2)))

    def signed_image(self, unit: int) -> np.ndarray:
        """The unit's image scaled to [-1, 1] by its own largest |weight| (0 stays 0)."""
        image = self.incoming[unit].astype(np.float64)
        peak = np.abs(image).max()
        return image / peak if peak > 0 else image

    def activations(self, pixels: np.ndarray, standardize: bool) -> np.ndarray:
        """relu(W₁ x + b₁) (hidden,) for one processed digit (uint8 28x28), as the network
        computes it with the checkpoint's input scaling."""
        x = network_input(pixels, standardize).numpy()[0].astype(np.float64)
        flat = self.incoming.reshape(self.hidden, -1).astype(np.float64)
        return np.maximum(flat @ x + self.bias, 0.0)


#: The orders the weights screen offers, besides "class k" (0-9).
ORDERS = ("unit", "norm", "activation")


def unit_order(
    weights: UnitWeights, order: str | int, activations: np.ndarray | None = None
) -> list[int]:
    """Unit indices in the order asked: "unit" (index), "norm" (largest ‖W₁[u]‖ first),
    a class 0-9 (the units that feed that class most strongly, by W₂[k, u], first), or
    "activation" (largest first; needs `activations`). Ties keep unit order."""
    if order == "unit":
        return list(range(weights.hidden))
    if order == "norm":
        key = -weights.norms()
    elif order == "activation":
        if activations is None:
            raise ValueError("order by activation needs a digit's activations")
        key = -np.asarray(activations, dtype=np.float64)
    elif isinstance(order, int) and 0 <= order <= 9:
        key = -weights.outgoing[:, order].astype(np.float64)
    else:
        raise ValueError(f"unknown order {order!r}")
    return [int(u) for u in np.argsort(key, kind="stable")]
