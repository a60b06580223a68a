"""Every key of the app in one place, and the commands only the palette offers.

`APP_KEYS` are the app's own keys (priority bindings: they work in any field) shown in the
Footer; the checkpoint panel's keys (`CheckpointPanel.BINDINGS`), the queue view's
(`QueueView.BINDINGS`) and the screens' own show in the Footer while they have the focus.
`key_table()` is the README's table of all of them.
"""

from __future__ import annotations

from textual.binding import Binding

#: The app's keys: shown in the Footer (but where `show=False`), offered in the palette.
APP_KEYS: list[Binding] = [
    Binding("ctrl+r", "start", "Start", tooltip="Start a run with the form's config"),
    Binding("ctrl+s", "stop", "Stop", tooltip="Stop the followed run (or the queue) after a batch"),
    Binding(
        "ctrl+g",
        "queue",
        "Queue",
        tooltip="Queue the form's config; comma lists make a grid of every combination",
    ),
    Binding("ctrl+o", "toggle_panel", "Panel", tooltip="Show/focus or hide the runs"),
    Binding("ctrl+f", "toggle_form", "Form", tooltip="Show/focus or hide the form"),
    Binding("ctrl+l", "runs_table", "Runs", tooltip="Every run in a sortable table"),
    Binding(
        "ctrl+t",
        "focus_table",
        "Table",
        show=False,  # no room at 80 columns; in the palette
        tooltip="Focus the results table, then the queue",
    ),
    Binding(
        "ctrl+n",
        "focus_charts",
        "Charts",
        show=False,  # no room at 80 columns; in the help and the palette
        tooltip="Focus the loss chart, then the accuracy chart (their keys: see ?)",
    ),
    Binding(
        "ctrl+b",
        "event_log",
        "Log",
        show=False,  # no room at 80 columns; in the help and the palette
        tooltip="Every message of this session, with its time",
    ),
    Binding("f1", "help", "Help", show=False, tooltip="Every key, by where it applies"),
    Binding("ctrl+q", "quit", "Quit", tooltip="Quit; live runs go on (or are stopped, if you say)"),
]

#: Keys the app binds without priority: a priority `?` would swallow the `?` typed in a
#: field; an Input consumes printable keys first, so a plain binding fires everywhere else.
PLAIN_KEYS: list[Binding] = [
    Binding("question_mark", "help", "Help", tooltip="Every key, by where it applies"),
]

#: Palette-only commands: (title, help, action). An action is the app's, or a widget's where
#: it is prefixed (`panel.evaluate`: `CheckpointPanel.action_evaluate`; `MnistApp`'s
#: `PALETTE_TARGETS` names the widgets).
PALETTE_COMMANDS: list[tuple[str, str, str]] = [
    ("Load the highlighted run", "Show its curves, table and config", "load_selected"),
    ("Rescan the runs directory", "Read the runs and checkpoints again", "panel.rescan"),
    (
        "Continue from the highlighted checkpoint",
        "Resume (same config) or fork (changed config) with the form's config",
        "resume_selected",
    ),
    ("Evaluate the highlighted checkpoint", "Test-set figures, confusion (e)", "panel.evaluate"),
    ("See the data set", "Page through training and test digits (d in the panel)", "panel.digits"),
    (
        "Draw a digit",
        "The highlighted checkpoint classifies it live (p in the panel)",
        "panel.draw",
    ),
    (
        "Hidden units' weights",
        "Each unit's incoming weights as an image (w in the panel)",
        "panel.weights",
    ),
    (
        "Check the gradients",
        "Hand-written backward vs finite differences, autograd (g)",
        "panel.gradcheck",
    ),
    (
        "Chart the training figures",
        "Gradient norms, update ratios, dead units (t)",
        "panel.training_figures",
    ),
    ("Fork from the highlighted checkpoint", "Form filled from it; Start forks (f)", "panel.fork"),
    ("Resume the highlighted checkpoint", "Form filled for more epochs (r)", "panel.resume"),
    (
        "New run instead of fork/resume",
        "Start trains from scratch (Escape in form)",
        "form.new_run",
    ),
    ("Mark the highlighted run to compare", "Overlay marked runs' curves (m)", "panel.toggle_mark"),
    ("Unmark all runs", "Back to the run's own curves", "panel.clear_marks"),
    ("Label the highlighted run", "Edit its label and note (l)", "panel.label"),
    (
        "Export the highlighted run's metrics",
        "Write metrics.csv in the run (c)",
        "panel.export_csv",
    ),
    ("Delete the highlighted run or checkpoint", "After a confirmation (Delete)", "panel.delete"),
    ("Run the queue", "Start the queue runner for waiting jobs (s in the queue)", "run_queue"),
    ("Show or hide the queue", "The jobs and their states", "toggle_queue"),
    (
        "Clear ended jobs",
        "Remove done, failed, cancelled jobs (C in the queue)",
        "queue.clear_jobs",
    ),
]


def key_table() -> str:
    """The keys of the whole app as a Markdown table (for the README)."""
    from tui.screens.confirm import ConfirmScreen
    from tui.screens.digits import DigitPager, DigitsScreen
    from tui.screens.draw import DrawScreen
    from tui.screens.evaluate import EvaluateScreen
    from tui.screens.run_notes import RunNotesScreen
    from tui.screens.runs_table import RunsScreen
    from tui.screens.weights import WeightsScreen
    from tui.widgets.canvas import DrawingCanvas
    from tui.widgets.charts import LossChart, MetricChart
    from tui.widgets.checkpoint_panel import CheckpointPanel
    from tui.widgets.queue import QueueView

    places: list[tuple[str, list[Binding]]] = [
        ("anywhere", [*APP_KEYS, *PLAIN_KEYS]),
        ("charts (ctrl+n)", MetricChart.BINDINGS),  # type: ignore[list-item]
        ("loss chart", LossChart.BINDINGS),  # type: ignore[list-item]
        ("checkpoint panel", CheckpointPanel.BINDINGS),  # type: ignore[list-item]
        ("queue", QueueView.BINDINGS),  # type: ignore[list-item]
        ("runs table (ctrl+l)", RunsScreen.BINDINGS),  # type: ignore[list-item]
        ("evaluation (e)", EvaluateScreen.BINDINGS),  # type: ignore[list-item]
        ("digits (d)", DigitsScreen.BINDINGS),  # type: ignore[list-item]
        ("digits, mistakes", DigitPager.BINDINGS),  # type: ignore[list-item]
        ("label and note (l)", RunNotesScreen.BINDINGS),  # type: ignore[list-item]
        ("draw (p)", DrawScreen.BINDINGS),  # type: ignore[list-item]
        ("draw (p), canvas", DrawingCanvas.BINDINGS),  # type: ignore[list-item]
        ("units (w)", WeightsScreen.BINDINGS),  # type: ignore[list-item]
        ("confirmation", ConfirmScreen.BINDINGS),  # type: ignore[list-item]
    ]
    lines = [
        "| where | key | what |",
        "|---|---|---|",
        "| anywhere | `ctrl+p` | The command palette: every action by name |",
        "| anywhere | `tab` / `shift+tab` | Next / previous field or panel |",
        "| form | `escape` | Leave fork/resume: Start makes a new run |",
        "| checkpoint panel | `up` / `down`, `enter` | Move; Enter on a run loads its curves |",
        "| evaluation (e) | arrows, `enter` | Choose a confusion cell; Enter shows its digits |",
    ]
    for place, bindings in places:
        for binding in bindings:
            if not isinstance(binding, Binding) or not binding.description:
                continue
            what = binding.tooltip or binding.description
            lines.append(f"| {place} | `{binding.key}` | {what} |")
    return "\n".join(lines) + "\n"
