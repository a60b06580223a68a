"""The hyperparameter form, built from `TrainConfig`'s fields and their metadata.

Each field becomes an input of its type (a Select where the field has choices, a Checkbox for a
bool, an Input otherwise) with a Textual validator that asks `TrainConfig` itself, so the form
and the engine can never disagree on what is valid. The reason a value is refused is shown under
the field as you type. A preset selector fills the form.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.events import DescendantFocus
from textual.message import Message
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from mlp_core.config import PRESETS, ConfigError, TrainConfig

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


def field_kind(name: str) -> str:
    """int, float, bool, str or choice."""
    spec = FIELDS[name]
    if spec.metadata.get("choices"):
        return "choice"
    return spec.type if isinstance(spec.type, str) else spec.type.__name__


def parse(name: str, text: str) -> Any:
    """The value of a field from its text, or an Unparsed with the reason."""
    kind, text = field_kind(name), text.strip()
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        return Unparsed("must be a whole number" if kind == "int" else "must be a number")
    return text


def problems_of(values: dict[str, Any], train_size: int | None = None) -> dict[str, str]:
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


class FieldValidator(Validator):
    """Validates one field of the form by asking TrainConfig about the whole form."""

    def __init__(self, form: ConfigForm, name: str) -> None:
        super().__init__()
        self.form = form
        self.name = name

    def validate(self, value: str) -> ValidationResult:
        values = self.form.raw_values()
        values[self.name] = parse(self.name, value)
        reason = problems_of(values, self.form.train_size).get(self.name)
        return self.failure(reason) if reason else self.success()


class ConfigForm(VerticalScroll):
    """The form: a preset selector, one row per TrainConfig field, Start and Stop."""

    #: Tab goes straight to the fields, not to the scrolling container around them.
    can_focus = False

    class Changed(Message):
        """The form's values changed; `valid` says whether Start would accept them."""

        def __init__(self, valid: bool) -> None:
            super().__init__()
            self.valid = valid

    def __init__(self, initial: TrainConfig, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.initial = initial
        #: Images in the training set, once known (val_split must be smaller).
        self.train_size: int | None = None
        self._filling = False

    def compose(self) -> ComposeResult:
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
            widget = Input(
                _format(value),
                type={"int": "integer", "float": "number"}.get(kind, "text"),
                validators=[FieldValidator(self, name)],
                validate_on=["changed", "submitted", "blur"],
                compact=True,
                id=widget_id,
            )
        widget.tooltip = tooltip
        return widget

    def on_mount(self) -> None:
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

    def problems(self) -> dict[str, str]:
        return problems_of(self.raw_values(), self.train_size)

    def config(self) -> TrainConfig:
        """The TrainConfig of the form; ConfigError (naming the field) when it is refused."""
        problems = self.problems()
        if problems:
            name, reason = next(iter(problems.items()))
            raise ConfigError(f"{name} {reason}")
        return TrainConfig(**self.raw_values())

    def fill(self, config: TrainConfig, keep_device: bool = False) -> None:
        """Put `config`'s values in the form (the device stays as it was with keep_device)."""
        self._filling = True
        try:
            for name in FIELDS:
                if keep_device and name == "device":
                    continue
                self._set_value(name, getattr(config, name))
            preset = self._matching_preset(config)
            self.query_one("#preset", Select).value = preset or Select.NULL
        finally:
            self._filling = False
        self.revalidate()

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

    def set_training(self, training: bool) -> None:
        """Lock the fields while a run is going (its config is fixed) and swap the buttons."""
        for widget in self.query("Input, Select, Checkbox"):
            widget.disabled = training
        self.query_one("#start", Button).disabled = training
        self.query_one("#stop", Button).disabled = not training

    # -- validation ----------------------------------------------------------------------

    def revalidate(self) -> bool:
        """Show each field's reason, if any, under it; True when the whole form is valid."""
        problems = self.problems()
        for name in FIELDS:
            reason = problems.get(name, "")
            label = self.query_one(f"#reason-{name}", Label)
            label.update(f"↳ {reason}" if reason else "")
            label.display = bool(reason)
            self.field(name).set_class(bool(reason), "-invalid")
        self.query_one("#form-problem", Static).update(
            f"{len(problems)} field(s) to fix before Start" if problems else ""
        )
        return not problems

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(Select.Changed)
    def _field_changed(self, event: Message) -> None:
        if self._filling:
            return
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
            self.post_message(self.Changed(not self.problems()))

    def _clear_preset_if_changed(self) -> None:
        """The preset selector says `custom` once a value no longer matches the preset."""
        try:
            config = TrainConfig(**self.raw_values())
        except (ConfigError, TypeError):
            config = None
        selector = self.query_one("#preset", Select)
        matching = self._matching_preset(config) if config else None
        if selector.value != (matching or Select.NULL):
            self._filling = True
            try:
                selector.value = matching or Select.NULL
            finally:
                self._filling = False

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
