"""One colour per run and per split, the same wherever it is drawn (panel, charts, runs table).

Colours are xterm-256 palette entries: plotext takes the index itself and Rich takes
``color(N)``, so a run's line in a chart and its mark in the panel are the very same colour, in a
256-colour terminal over SSH as well as in truecolour. Each was picked to read on dark and on
light themes (no white, black or pale yellow).

A run's colour comes from a hash of its name (`run_colour`), so it does not change when other
runs are marked or unmarked, nor between launches (W&B's "stable colour per run"). Two runs of a
comparison that hash to the same colour are told apart by `colours_for`, deterministically.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Colour:
    """An xterm-256 colour: `code` for plotext, `rich` for Rich styles and Textual markup."""

    code: int
    name: str

    @property
    def rich(self) -> str:
        return f"color({self.code})"

    @property
    def plotext(self) -> int:
        return self.code


#: Runs' colours, most distinct first.
RUN_PALETTE: tuple[Colour, ...] = (
    Colour(33, "blue"),
    Colour(208, "orange"),
    Colour(35, "green"),
    Colour(170, "orchid"),
    Colour(160, "red"),
    Colour(178, "gold"),
    Colour(37, "teal"),
    Colour(98, "purple"),
    Colour(130, "brown"),
    Colour(162, "pink"),
)

#: Each split has one colour in every chart (val is orange in the loss and in the accuracy).
SPLIT_COLOURS: dict[str, Colour] = {
    "train": Colour(33, "blue"),
    "val": Colour(208, "orange"),
    "test": Colour(170, "orchid"),
    "lr": Colour(244, "grey"),
    "step": Colour(240, "dim grey"),  # the raw per-step loss, faint under its smoothed curve
}


def split_colour(split: str) -> Colour:
    """The colour of a split's series (train, val, test, lr, step); grey for anything else."""
    return SPLIT_COLOURS.get(split, SPLIT_COLOURS["lr"])


def run_colour(name: str) -> Colour:
    """The colour of a run, from its folder name alone: the same in every launch."""
    return RUN_PALETTE[zlib.crc32(name.encode()) % len(RUN_PALETTE)]


def colours_for(names: Iterable[str]) -> dict[str, Colour]:
    """A colour per name, distinct while the palette lasts: each run keeps `run_colour` unless an
    earlier name (in the given order) took it, then it gets the next free one after it."""
    taken: dict[str, Colour] = {}
    used: set[int] = set()
    for name in names:
        colour = run_colour(name)
        if colour.code in used and len(used) < len(RUN_PALETTE):
            start = RUN_PALETTE.index(colour)
            for step in range(1, len(RUN_PALETTE)):
                candidate = RUN_PALETTE[(start + step) % len(RUN_PALETTE)]
                if candidate.code not in used:
                    colour = candidate
                    break
        taken[name] = colour
        used.add(colour.code)
    return taken
