"""The hyperparameter form, built from `TrainConfig`'s fields and their metadata.

Each field becomes an input of its type (a Select where the field has choices, a Checkbox for a
bool, an Input otherwise) with a Textual validator that asks `TrainConfig` itself, so the form
and the engine can never disagree on what is valid. The reason a value is refused is shown under
the field as you type, for every field (a number field refuses no character as typed: `12.5` in
an integer field says it must be a whole number). Its inputs are `FieldInput`s, whose editing
keys keep their order in a burst of keys (see `tui.widgets.field_input`). A preset selector
fills the form.

A number field (and the device) also takes a comma-separated list, `128,256,512`: the form is
then a grid for the queue (every combination, `grid_configs`), its size shown under the
buttons; Start refuses a list and says why. A list of devices (`cuda:0,cuda:1`) runs queued
jobs side by side, one per device. The form keeps what Start continues from, a checkpoint the
panel's fork or resume chose (`continue_from`, `tui.widgets.start_from`), and says on top what
Start will do with it as the fields change; Escape in the form drops it.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.events import DescendantFocus
from textual.message import Message
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from mlp_core.config import PRESETS, ConfigError, TrainConfig
from tui.widgets.field_input import FieldInput
from tui.widgets.start_from import StartFrom, describe

#: Short labels for the form (the field name is used for any field not listed).
LABELS = {
    "hidden": "hidden units",
    "lr": "learning rate",
    "batch_size": "batch size",
    "epochs": "epochs",
    "optimizer": "optimizer",
    "momentum": "momentum",
    "nesterov": "Nesterov",
    "weight_decay": "weight decay",
    "init": "init",
    "schedule": "lr schedule",
    "lr_step_epochs": "step every",
    "lr_gamma": "step factor",
    "seed": "seed",
    "val_split": "val split",
    "standardize": "standardise",
    "augment_shift": "shift (px)",
    "keep_top_k": "keep top k",
    "device": "device",
}
FIELDS = {spec.name: spec for spec in dataclasses.fields(TrainConfig)}
DEFAULTS: dict[str, Any] = {name: spec.default for name, spec in FIELDS.items()}


class Unparsed:
    """A value typed into the form that is not even of the field's type."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class GridValue:
    """Several comma-separated values typed in one field (a grid for the queue)."""

    def __init__(self, values: list[Any]) -> None:
        self.values = values

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GridValue) and other.values == self.values

    __hash__ = None  # type: ignore[assignment]


#: The messages of the form's own controls (prevented while the form fills itself).
FIELD_CHANGES = (Input.Changed, Select.Changed, Checkbox.Changed)
#: Why Start refuses a list (the queue takes it).
LIST_FOR_QUEUE = "is a list: ctrl+g queues the grid; Start takes one value"


def field_kind(name: str) -> str:
    """int, float, bool, str or choice."""
    spec = FIELDS[name]
    if spec.metadata.get("choices"):
        return "choice"
    return spec.type if isinstance(spec.type, str) else spec.type.__name__


def parse(name: str, text: str) -> Any:
    """The value of a field from its text: an Unparsed with the reason, or a GridValue for a
    comma-separated list."""
    kind, text = field_kind(name), text.strip()
    if "," in text and kind in ("int", "float", "str"):
        values: list[Any] = []
        for part in text.split(","):
            if not part.strip():
                return Unparsed("has an empty value in its list")
            value = parse(name, part)
            if isinstance(value, Unparsed):
                return Unparsed(f"{value.reason} ({part.strip()!r} in the list)")
            if value not in values:
                values.append(value)
        return GridValue(values) if len(values) > 1 else values[0]
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        return Unparsed("must be a whole number" if kind == "int" else "must be a number")
    return text


def problems_of(
    values: dict[str, Any], train_size: int | None = None, grid_ok: bool = False
) -> dict[str, str]:
    """Why each refused field is refused (`grid_ok`: a list is fine, each of its values checked).

    Each list stands for its first value while the other fields are checked, then every other
    value of a list is checked in turn with the rest as they are.
    """
    singles = {n: v.values[0] if isinstance(v, GridValue) else v for n, v in values.items()}
    problems = _single_problems(singles, train_size)
    for name, value in values.items():
        if not isinstance(value, GridValue) or name in problems:
            continue
        for item in value.values[1:]:
            reason = _single_problems({**singles, name: item}, train_size).get(name)
            if reason:
                problems[name] = f"{item}: {reason}"
                break
        else:
            if not grid_ok:
                problems[name] = LIST_FOR_QUEUE
    return problems


def _single_problems(values: dict[str, Any], train_size: int | None) -> dict[str, str]:
    """Why each refused field is refused, asking `TrainConfig` one error at a time.

    A refused value is put back to its default (or the lab's, when the default is refused too,
    as Nesterov without momentum) and the rest checked again, so several fields can be reported.
    """
    problems = {n: v.reason for n, v in values.items() if isinstance(v, Unparsed)}
    candidate = {n: DEFAULTS[n] if isinstance(v, Unparsed) else v for n, v in values.items()}
    for _ in range(len(candidate) + 1):
        try:
            TrainConfig(**candidate)
            break
        except ConfigError as exc:
            name, _, reason = str(exc).partition(" ")
            if name not in candidate or name in problems:
                break
            problems[name] = reason
            fallback = DEFAULTS[name]
            if fallback == candidate[name]:
                fallback = getattr(PRESETS["lab"], name)
            candidate[name] = fallback
    split = values.get("val_split")
    if train_size is not None and isinstance(split, int) and split >= train_size:
        problems.setdefault("val_split", f"must be smaller than the training set ({train_size})")
    return problems


def device_list_problem(value: Any, cpu_only: bool) -> str | None:
    """Why a device list is refused: side-by-side jobs need one device each, and the CPU is one
    device however it is named (`auto` is the CPU where no GPU is seen: `cpu_only`)."""
    if not isinstance(value, GridValue):
        return None
    cpus = [d for d in value.values if d == "cpu" or (d == "auto" and cpu_only)]
    if len(cpus) > 1:
        return f"names the CPU twice ({', '.join(cpus)}): side by side needs one device each"
    return None


class FieldValidator(Validator):
    """Validates one field of the form by asking TrainConfig about the whole form."""

    def __init__(self, form: ConfigForm, name: str) -> None:
        super().__init__()
        self.form = form
        self.name = name

    def validate(self, value: str) -> ValidationResult:
        values = self.form.raw_values()
        values[self.name] = parse(self.name, value)
        reason = self.form.problems_in(values, grid_ok=True).get(self.name)
        return self.failure(reason) if reason else self.success()


class ConfigForm(VerticalScroll):
    """The form: a preset selector, one row per TrainConfig field, Start and Stop."""

    #: Tab goes straight to the fields, not to the scrolling container around them.
    can_focus = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "new_run", "New run", show=False),
        # Priority, so the App moves the focus when it reads the key, before it routes the
        # next keys of a burst: `tab ctrl+u 4` clears and fills the next field, not this one
        # (a plain tab binding runs after bubbling up, when those keys have gone here).
        Binding("tab", "app.focus_next", "Next field", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False, priority=True),
    ]

    class Changed(Message):
        """The form's values changed (typed, or filled from a preset, run or checkpoint)."""

    def __init__(self, initial: TrainConfig, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.initial = initial
        #: Images in the training set, once known (val_split must be smaller).
        self.train_size: int | None = None
        #: No GPU is seen (once known): `auto` is then the CPU.
        self.cpu_only = False
        #: ``grid: 4 runs (hidden × lr) · ...`` while a field holds a list, else "".
        self.grid_text = ""
        #: The checkpoint the next Start continues from (fork or resume), or None: a new run.
        self.start_from: StartFrom | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="form-from")  # what Start continues from, on top: seen first
        with Horizontal(classes="row"):
            yield Label("preset", classes="name")
            yield Select(
                [(name, name) for name in PRESETS],
                value=self._matching_preset(self.initial) or Select.NULL,
                prompt="custom",
                compact=True,
                id="preset",
            )
        for name in FIELDS:
            with Horizontal(classes="row", id=f"row-{name}"):
                yield Label(LABELS.get(name, name), classes="name")
                yield self._make_input(name, getattr(self.initial, name))
            yield Label("", classes="reason", id=f"reason-{name}")
        with Horizontal(id="form-buttons"):
            yield Button("Start", id="start", variant="success", compact=True)
            yield Button("Stop", id="stop", variant="error", compact=True, disabled=True)
        yield Static("", id="form-problem")
        yield Static("", id="form-grid")
        yield Static("", id="form-hint")

    def _make_input(self, name: str, value: Any) -> Widget:
        spec, kind = FIELDS[name], field_kind(name)
        widget_id = f"field-{name}"
        tooltip = spec.metadata.get("help")
        if kind == "choice":
            options = [(choice, choice) for choice in spec.metadata["choices"]]
            widget: Widget = Select(
                options, value=value, allow_blank=False, compact=True, id=widget_id
            )
        elif kind == "bool":
            widget = Checkbox("", value=bool(value), compact=True, id=widget_id)
        else:
            # Nothing is refused as typed: the reason shows under the field (`12.5`: must be a
            # whole number) instead of a character silently dropped.
            widget = FieldInput(
                _format(value),
                validators=[FieldValidator(self, name)],
                validate_on=["changed", "submitted", "blur"],
                compact=True,
                id=widget_id,
            )
        widget.tooltip = tooltip
        return widget

    def on_mount(self) -> None:
        self.query_one("#form-from").display = False
        self.revalidate()

    # -- reading and filling -----------------------------------------------------------

    def field(self, name: str) -> Widget:
        return self.query_one(f"#field-{name}")

    def raw_values(self) -> dict[str, Any]:
        """Every field's value as typed (Unparsed where it is not of the field's type)."""
        values: dict[str, Any] = {}
        for name in FIELDS:
            try:
                widget = self.field(name)
            except NoMatches:  # validators run while the form is still being built
                values[name] = getattr(self.initial, name)
                continue
            if isinstance(widget, Input):
                values[name] = parse(name, widget.value)
            elif isinstance(widget, Checkbox):
                values[name] = widget.value
            else:
                values[name] = widget.value  # type: ignore[attr-defined]
        return values

    def problems(self, grid_ok: bool = False) -> dict[str, str]:
        """Why each refused field is refused; a list is refused unless `grid_ok`."""
        return self.problems_in(self.raw_values(), grid_ok)

    def problems_in(self, values: dict[str, Any], grid_ok: bool) -> dict[str, str]:
        """`problems_of` these values, and a device list that names the CPU twice."""
        problems = problems_of(values, self.train_size, grid_ok)
        reason = device_list_problem(values.get("device"), self.cpu_only)
        if reason and grid_ok:
            problems.setdefault("device", reason)
        return problems

    def grid(self) -> dict[str, list[Any]]:
        """The fields holding a list of values (but the device), each with its values."""
        return {
            name: value.values
            for name, value in self.raw_values().items()
            if isinstance(value, GridValue) and name != "device"
        }

    def devices(self) -> list[str] | None:
        """The devices of a device list (jobs side by side), or None for a single device;
        ConfigError when the list names the CPU twice (`cpu,auto` without a GPU)."""
        device = self.raw_values()["device"]
        reason = device_list_problem(device, self.cpu_only)
        if reason:
            raise ConfigError(f"device {reason}")
        return list(device.values) if isinstance(device, GridValue) else None

    def grid_configs(self) -> list[TrainConfig]:
        """Every config of the form's grid (one when no field is a list); ConfigError (naming
        the field) when a value is refused."""
        from mlp_core.grid import expand_grid

        problems = self.problems(grid_ok=True)
        if problems:
            name, reason = next(iter(problems.items()))
            raise ConfigError(f"{name} {reason}")
        values = self.raw_values()
        base = {n: v.values[0] if isinstance(v, GridValue) else v for n, v in values.items()}
        return expand_grid(TrainConfig(**base), self.grid())

    def config(self) -> TrainConfig:
        """The TrainConfig of the form; ConfigError (naming the field) when it is refused."""
        problems = self.problems()
        if problems:
            name, reason = next(iter(problems.items()))
            raise ConfigError(f"{name} {reason}")
        return TrainConfig(**self.raw_values())

    def fill(self, config: TrainConfig, keep_device: bool = False) -> None:
        """Put `config`'s values in the form (the device stays as it was with keep_device).

        The fields' own Changed messages are prevented (each would revalidate the whole form,
        and the preset selector's would fill it again): one revalidation, one `Changed`."""
        with self.prevent(*FIELD_CHANGES):
            for name in FIELDS:
                if keep_device and name == "device":
                    continue
                self._set_value(name, getattr(config, name))
            preset = self._matching_preset(config)
            self.query_one("#preset", Select).value = preset or Select.NULL
        self.revalidate()
        self._show_start_from()
        self.post_message(self.Changed())

    def _set_value(self, name: str, value: Any) -> None:
        widget = self.field(name)
        if isinstance(widget, Input):
            widget.value = _format(value)
        elif isinstance(widget, Checkbox):
            widget.value = bool(value)
        elif isinstance(widget, Select):
            widget.value = value

    @staticmethod
    def _matching_preset(config: TrainConfig) -> str | None:
        for name, preset in PRESETS.items():
            if dataclasses.replace(preset, device=config.device) == config:
                return name
        return None

    def focus_first(self) -> None:
        """Focus the first field that takes input (the preset selector when free)."""
        for widget in self.query("Select, Input, Checkbox, Button"):
            if widget.focusable:
                widget.focus()
                return

    def set_training(self, training: bool, lock: bool = True) -> None:
        """Lock the fields while a run is going (its config is fixed) and swap the buttons.

        lock=False leaves the fields open (the queue runs: more jobs can be added meanwhile).
        """
        for widget in self.query("Input, Select, Checkbox"):
            widget.disabled = training and lock
        self.query_one("#start", Button).disabled = training
        self.query_one("#stop", Button).disabled = not training

    # -- what Start continues from ---------------------------------------------------

    def continue_from(self, start: StartFrom, config: TrainConfig | None = None) -> None:
        """Start continues from `start` from now on (filled with `config`, where given)."""
        self.start_from = start
        if config is not None:
            self.fill(config, keep_device=True)  # which shows the banner
        else:
            self._show_start_from()

    def take_start_from(self) -> StartFrom | None:
        """What this Start continues from; the next one makes a new run again."""
        start, self.start_from = self.start_from, None
        self._show_start_from()
        return start

    def forget_start_from(self, run_path: Path, checkpoint: Path | None) -> None:
        """The run (checkpoint None) or the checkpoint was deleted: Start makes a new run if
        it continued from there."""
        start = self.start_from
        if (
            start is not None
            and start.run_path == run_path
            and checkpoint in (None, start.checkpoint)
        ):
            self.action_new_run()

    def action_new_run(self) -> None:
        """Leave fork/resume: Start makes a new run from scratch again."""
        if self.start_from is not None:
            self.start_from = None
            self._show_start_from()
            self.notify("Start trains a new run from scratch.")

    def _show_start_from(self) -> None:
        """Say on top of the form what Start continues from, and whether it resumes or forks."""
        text, button = "", "Start"
        if self.start_from is not None:
            try:
                config: TrainConfig | None = self.config()
            except ConfigError:
                config = None
            text, button = describe(self.start_from, config)
        banner = self.query_one("#form-from", Static)
        banner.update(text)
        banner.display = bool(text)
        self.query_one("#start", Button).label = button

    # -- validation ----------------------------------------------------------------------

    def revalidate(self) -> bool:
        """Show each field's reason, if any, under it; True when the whole form is valid."""
        problems = self.problems(grid_ok=True)
        for name in FIELDS:
            reason = problems.get(name, "")
            label = self.query_one(f"#reason-{name}", Label)
            label.update(f"↳ {reason}" if reason else "")
            label.display = bool(reason)
            self.field(name).set_class(bool(reason), "-invalid")
        self.query_one("#form-problem", Static).update(
            f"{len(problems)} field(s) to fix before Start" if problems else ""
        )
        self._show_grid(bool(problems))
        return not self.problems()

    def _show_grid(self, invalid: bool) -> None:
        """``grid: 6 runs (hidden × lr) · ctrl+g queues them`` under the buttons."""
        grid, text = self.grid(), ""
        try:
            devices = self.devices()
        except ConfigError:
            devices, invalid = None, True
        if grid or devices:
            count = math.prod(len(values) for values in grid.values())
            text = f"grid: {count} run{'s' if count > 1 else ''}"
            if grid:
                text += f" ({' × '.join(grid)})"
            if devices:
                text += f" on {', '.join(devices)} side by side"
            text += " · fix the fields first" if invalid else " · ctrl+g queues; Start needs one"
        self.grid_text = text
        self.query_one("#form-grid", Static).update(text)

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(Select.Changed)
    def _field_changed(self, event: Message) -> None:
        control = getattr(event, "control", None)
        if isinstance(control, Select) and control.id == "preset":
            if control.value in PRESETS:
                self.fill(PRESETS[str(control.value)], keep_device=True)
            return
        if isinstance(control, (Input, Checkbox, Select)) and (control.id or "").startswith(
            "field-"
        ):
            self.revalidate()
            self._clear_preset_if_changed()
            self._show_start_from()
            self.post_message(self.Changed())

    def _clear_preset_if_changed(self) -> None:
        """The preset selector says `custom` once a value no longer matches the preset."""
        try:
            config = TrainConfig(**self.raw_values())
        except (ConfigError, TypeError):
            config = None
        selector = self.query_one("#preset", Select)
        matching = self._matching_preset(config) if config else None
        if selector.value != (matching or Select.NULL):
            with self.prevent(Select.Changed):
                selector.value = matching or Select.NULL

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        """Show the focused field's help under the form (tooltips need a mouse)."""
        widget_id = event.widget.id or ""
        hint = ""
        if widget_id.startswith("field-"):
            name = widget_id.removeprefix("field-")
            hint = f"{name}: {FIELDS[name].metadata.get('help', '')}"
        elif widget_id == "preset":
            hint = "preset: fills the form (lab, default, best)"
        self.query_one("#form-hint", Static).update(hint)


def _format(value: Any) -> str:
    """A field's value as the form shows it (0.0005 rather than 5e-04)."""
    if isinstance(value, float):
        text = f"{value:.10f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    return str(value)
