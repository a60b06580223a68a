"""How the checkpoint panel words a run and a checkpoint: the tree's one-line labels and the
details under it. Plain functions of the catalog's entries (`tui.catalog`), kept apart from the
widget so that its file is about the tree, the disk and the keys."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from mlp_core.text import printable
from tui.catalog import CheckpointEntry, RunEntry, human_size
from tui.format import number, percent, run_started

STATUS_STYLE = {
    "running": "bold green",
    "finished": "green",
    "stopped": "yellow",
    "interrupted": "yellow",
    "diverged": "red",
    "failed": "red",
}


def _when(name: str) -> str:
    """'20261127-221530-h1024...' -> '11-27 22:15' (the run's start, from its name)."""
    return run_started(name) or name[:11]


#: Run statuses as the tree shows them (short: the panel is narrow).
STATUS_WORD = {"finished": "done", "interrupted": "interr."}


#: A run's label in its panel row is cut to this many characters (the details show it whole).
LABEL_WIDTH = 16


def run_label(entry: RunEntry, live: bool, mark: str | None = None) -> Text:
    """``◆ 98.1% done 11-27 22:15 wide h1024 lr0.05`` (best validation accuracy, or test).

    The accuracy and the status come first: a long label or a narrow panel cuts the end of
    the row, never them. A label is shown printable (terminal escapes made visible) and cut.
    mark: the colour of the run in the compared charts, when it is marked.
    """
    if entry.error is not None:
        return Text.assemble((entry.name, "red"), (" unreadable", "bold red"))
    config = entry.config
    summary = f"h{config.get('hidden', '?')} lr{config.get('lr', 0):g}" if config else "?"
    best = entry.best or {}
    accuracy = number(best.get("val_accuracy", best.get("test_accuracy")))
    status = "live" if live else entry.status
    label = printable(entry.label or "")
    if len(label) > LABEL_WIDTH:
        label = label[: LABEL_WIDTH - 1] + "…"
    return Text.assemble(
        ("◆ " if mark else "", f"bold {mark}" if mark else ""),
        ("" if accuracy is None else f"{100 * accuracy:.1f}% ", "bold"),
        (STATUS_WORD.get(status, status), STATUS_STYLE.get("running" if live else status, "")),
        " ",
        (_when(entry.name), "dim"),
        " ",
        (f"{label} " if label else "", "bold italic"),
        ("⑂" if entry.parent else "", "cyan"),
        summary,
    )


def _points(value: float | None) -> str:
    """An accuracy in percent without the sign (the tree has no room for it)."""
    return " " + percent(value, sign=False)


def checkpoint_label(entry: CheckpointEntry) -> Text:
    """``best e7   val  98.12 test  98.05 ★``."""
    if entry.error is not None:
        return Text.assemble((entry.path.name, "red"), (" unreadable", "bold red"))
    return Text.assemble(
        (f"{entry.kind:<5}", "bold" if entry.kind == "best" else ""),
        f"e{entry.epoch:<3} ",
        ("val", "dim"),
        _points(entry.val_accuracy),
        (" test", "dim"),
        _points(entry.test_accuracy),
        (" ★" if entry.is_best else "", "bold yellow"),
    )


def _value(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and "accuracy" in key:
        return percent(value)
    if isinstance(value, float):
        return f"{value:.4g}" if key == "lr" else f"{value:.4f}"
    return str(value)


def _config_lines(config: dict[str, Any]) -> list[str]:
    return [
        f"  {name:<14} {value:g}" if isinstance(value, float) else f"  {name:<14} {value}"
        for name, value in config.items()
    ]


def run_details(entry: RunEntry) -> Text:
    if entry.error is not None:
        return Text.assemble(("unreadable run\n", "bold red"), f"{entry.path}\n{entry.error}")
    best = entry.best
    lines = [
        entry.name,
        f"status   {entry.status}" + (f" ({entry.run_error})" if entry.run_error else ""),
        f"created  {entry.created}",
        f"device   {entry.device}",
        f"data     {entry.dataset}",
        f"epochs   {len(entry.metrics)} of {entry.config.get('epochs', '?')}",
    ]
    if best:
        lines.append(
            f"best     epoch {best.get('epoch')}: val {percent(best.get('val_accuracy'))}, "
            f"test {percent(best.get('test_accuracy'))}"
        )
    if entry.label:
        lines.insert(1, f"label    {printable(entry.label)}")
    if entry.note:
        lines.insert(2 if entry.label else 1, f"note     {printable(entry.note)}")
    if entry.parent:
        lines.append(entry.lineage or f"forked from {entry.parent.get('run')}")
    lines += ["config", *_config_lines(entry.config)]
    return Text("\n".join(lines))


def checkpoint_details(entry: CheckpointEntry) -> Text:
    if entry.error is not None:
        return Text.assemble(
            ("unreadable checkpoint\n", "bold red"), f"{entry.path}\n{entry.error}"
        )
    metrics = entry.metrics
    lines = [
        entry.path.parent.parent.name,
        f"file     {entry.path.name}",
        f"kind     {entry.kind}" + ("  ★ (the best epoch)" if entry.is_best else ""),
        f"epoch    {entry.epoch}",
        f"saved    {entry.created}",
        f"size     {human_size(entry.size)}",
        "metrics",
    ]
    for key in ("train_loss", "val_loss", "val_accuracy", "test_loss", "test_accuracy", "lr"):
        lines.append(f"  {key:<14} {_value(key, metrics.get(key))}")
    lines += ["config", *_config_lines(entry.config)]
    return Text("\n".join(lines))


def legend_names(entries: list[RunEntry]) -> list[str]:
    """Short, distinct names for a chart legend: the label, else the name without its date."""
    names: list[str] = []
    for entry in entries:
        name = printable(entry.label or "")[:24] or entry.name[16:] or entry.name
        base, count = name, 2
        while name in names:
            name, count = f"{base} #{count}", count + 1
        names.append(name)
    return names
