"""The Search screen: ranges and lists of hyperparameters, trials, epochs, pruning; Start
creates the Optuna study and hands it to a detached controller (`mlp_core.search_launch`).

    lr          1e-3..0.3:log     a range (`:log`: sampled on a log scale)
    hidden      128..2048:log     an int field gives whole numbers
    batch size  32,64,128         a list: a choice, its grid tried first
    epochs      3                 one value fixes the field
    more        val_split=5000 momentum=0.8..0.99    any other field, NAME=VALUES

Every field is checked as it is typed (`mlp_core.search_space.parse_space` against the
preset's config, so `0..1` for lr is refused before a study exists), with the reason beside
it; the whole space (something to search, a grid not too large) on the Start line. The screen
is dismissed with the search's folder, or None (Escape). The controller is a process of its
own: closing the app costs the search nothing.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static
from textual.worker import Worker, WorkerState

from mlp_core.config import ConfigError, TrainConfig, preset
from mlp_core.grid import parse_values
from mlp_core.search_space import parse_space

#: The space's fields on the screen: (TrainConfig field, label, what it starts with).
SPACE_FIELDS = (
    ("lr", "lr", "1e-3..0.3:log"),
    ("hidden", "hidden", "128..2048:log"),
    ("batch_size", "batch size", "32,64,128"),
    ("epochs", "epochs", "3"),
)
MORE_HINT = "NAME=VALUES, e.g. val_split=5000"


def field_reason(name: str, text: str, base: TrainConfig) -> str:
    """Why `text` is no range, list or value of field `name` ("" when it is, or is empty)."""
    text = text.strip()
    if not text:
        return ""
    try:
        if ".." in text or "," in text:
            parse_space({name: text}, base)
        else:
            replace(base, **{name: parse_values(name, text)[0]})
    except ConfigError as exc:
        return str(exc)
    return ""


def parse_more(text: str) -> dict[str, str]:
    """``val_split=5000 momentum=0.8..0.99`` as {field: text}; ConfigError when malformed."""
    found: dict[str, str] = {}
    for item in text.split():
        name, sep, values = item.partition("=")
        if not sep or not name or not values:
            raise ConfigError(f"{item!r}: give NAME=VALUES")
        found[name.replace("-", "_")] = values
    return found


def trials_reason(text: str) -> str:
    try:
        trials = int(text.strip())
    except ValueError:
        return "trials: a whole number"
    return "" if trials >= 1 else "trials: at least 1"


class SearchScreen(ModalScreen["Path | None"]):
    """Give a search's space and start it; see the module docstring."""

    DEFAULT_CSS = """
    SearchScreen { align: center middle; }
    SearchScreen #search-box {
        width: 100; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1; overflow-y: auto;
    }
    SearchScreen .search-row { height: auto; margin-top: 1; }
    SearchScreen .search-row Label { width: 12; }
    SearchScreen .search-row Input { width: 32; }
    SearchScreen .search-row Checkbox { width: 32; }
    SearchScreen .search-reason { width: 1fr; color: $error; padding-left: 1; }
    SearchScreen .search-note { width: 1fr; padding-left: 1; color: $text-muted; }
    SearchScreen #search-title { text-style: bold; }
    SearchScreen #search-buttons { height: 1; margin-top: 1; align-horizontal: right; }
    SearchScreen Button { margin-left: 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(
        self, runs_dir: Path, data_dir: Path | None = None, *, base: TrainConfig | None = None
    ) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.data_dir = data_dir
        self.base = base or preset("default")
        #: Each field's reason as last checked ("" when valid), by field id.
        self.reasons: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="search-box"):
            yield Static("New search (Optuna TPE; a process of its own)", id="search-title")
            for name, label, value in SPACE_FIELDS:
                yield from self._row(name, label, value)
            yield from self._row("more", "more", "", placeholder=MORE_HINT)
            yield from self._row("trials", "trials", "20")
            with Horizontal(classes="search-row"):
                yield Label("pruning")
                yield Checkbox("median pruner", value=True, id="search-prune", compact=True)
                yield Static("stops a trial below the median at an epoch", classes="search-note")
            with Horizontal(id="search-buttons"):
                yield Static("", id="reason-space", classes="search-reason")
                yield Button("Cancel", id="search-cancel", compact=True)
                yield Button("Start", id="search-start", variant="primary", compact=True)

    def _row(self, name: str, label: str, value: str, placeholder: str = "") -> ComposeResult:
        with Horizontal(classes="search-row"):
            yield Label(label)
            yield Input(value, placeholder=placeholder, id=f"search-{name}", compact=True)
            yield Static("", id=f"reason-{name}", classes="search-reason", markup=False)

    def on_mount(self) -> None:
        self.check()
        self.query_one("#search-lr", Input).focus()

    # -- checking as typed ----------------------------------------------------------------

    def text(self, name: str) -> str:
        return self.query_one(f"#search-{name}", Input).value

    def space_options(self) -> dict[str, str]:
        """Every field's text by TrainConfig name (the `more` pairs included); may raise."""
        options = {n: self.text(n).strip() for n, _, _ in SPACE_FIELDS if self.text(n).strip()}
        options.update(parse_more(self.text("more")))
        return options

    def _field_reasons(self) -> dict[str, str]:
        reasons = {n: field_reason(n, self.text(n), self.base) for n, _, _ in SPACE_FIELDS}
        try:
            more = parse_more(self.text("more"))
            reasons["more"] = next(
                (r for n, t in more.items() if (r := field_reason(n, t, self.base))), ""
            )
        except ConfigError as exc:
            reasons["more"] = str(exc)
        reasons["trials"] = trials_reason(self.text("trials"))
        return reasons

    def check(self) -> bool:
        """Check every field and the whole space; show the reasons; True when Start may go."""
        reasons = self._field_reasons()
        if not any(reasons.values()):
            try:
                parse_space(self.space_options(), self.base)
                reasons["space"] = ""
            except ConfigError as exc:
                reasons["space"] = str(exc)
        else:
            reasons["space"] = ""
        self.reasons = reasons
        for name, reason in reasons.items():
            self.query_one(f"#reason-{name}", Static).update(reason)
        ok = not any(reasons.values())
        self.query_one("#search-start", Button).disabled = not ok
        return ok

    @on(Input.Changed)
    def _changed(self) -> None:
        self.check()

    # -- starting -------------------------------------------------------------------------

    @on(Button.Pressed, "#search-start")
    @on(Input.Submitted)
    def action_start(self) -> None:
        """Create the study and detach its controller (off the UI thread: Optuna loads)."""
        if not self.check():
            return
        self.query_one("#search-start", Button).disabled = True
        self.query_one("#reason-space", Static).update("creating the study…")
        self._launch(
            self.space_options(),
            int(self.text("trials")),
            self.query_one("#search-prune", Checkbox).value,
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="search-launch")
    def _launch(self, options: dict[str, str], trials: int, prune: bool) -> Path:
        from mlp_core.search import SearchSpec
        from mlp_core.search_launch import launch_search

        spec = SearchSpec(self.base, parse_space(options, self.base), trials=trials, prune=prune)
        return launch_search(spec, runs_dir=self.runs_dir, data_dir=self.data_dir)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "search-launch":
            return
        if event.state == WorkerState.SUCCESS:
            self.dismiss(event.worker.result)
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            expected = ("SearchError", "ConfigError", "DatasetError", "ExecutorError")
            reason = (
                str(error)
                if type(error).__name__ in expected or isinstance(error, OSError)
                else f"{type(error).__name__}: {error}"
            )
            self.query_one("#reason-space", Static).update(f"cannot start: {reason}")
            self.query_one("#search-start", Button).disabled = False

    @on(Button.Pressed, "#search-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
