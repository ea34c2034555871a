"""A new run: every hyperparameter by group, checked as you type, with live estimates; queue it."""

from __future__ import annotations

import functools
from pathlib import Path

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.events import DescendantFocus
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Select, Static

from engine.core import config as cfgmod
from engine.core.errors import GptTuiError
from engine.core.presets import PRESETS
from engine.data.corpus import is_builtin
from engine.data.tokenize import vocab_size_for
from engine.store import control
from tui.models import editor_model as em
from tui.screens.lrfind_editor import LrFindInEditor
from tui.widgets import EngineBar, EstimatePanel, FieldRow

DEFAULT_PRESET = "quickstart"


@functools.lru_cache(maxsize=32)
def vocab_size(dataset: str, tokenizer: str, datasets_dir: Path, text_field: str) -> int:
    return vocab_size_for(dataset, tokenizer, datasets_dir, text_field)


class EditorScreen(LrFindInEditor, Screen[tuple[str, bool] | None]):
    """Dismissed with (run id, watch it) once queued, or None when left."""

    BINDINGS = [
        Binding("ctrl+s", "queue(False)", "queue", priority=True, tooltip="queue the run; an engine starts it"),
        Binding("ctrl+t", "queue(True)", "queue & watch", priority=True, tooltip="queue it and open its monitor"),
        Binding("ctrl+l", "lr_find", "LR find", priority=True, tooltip="an LR range test of this config"),
        Binding("escape", "leave", "back"),
    ]

    class DeviceRead(Message):
        def __init__(self, device: em.Device, caps: cfgmod.DeviceCaps, calibration: em.Calibration | None):
            super().__init__()
            self.device, self.caps, self.calibration = device, caps, calibration

    class EstimateRead(Message):
        def __init__(
            self, config: cfgmod.RunConfig, lines: list[em.Line] | None, error: str = "", measured: tuple = (None, None)
        ) -> None:
            super().__init__()
            self.config, self.lines, self.error, self.measured = config, lines, error, measured

        def can_replace(self, message: Message) -> bool:
            # Not by one made with another device reading: that one may be dropped as stale.
            return isinstance(message, EditorScreen.EstimateRead) and message.measured == self.measured

    class DatasetRead(Message):
        """Whether a run could read `dataset` (None) or why not, as it would be asked at queue time."""

        def __init__(self, dataset: str, problem: str | None) -> None:
            super().__init__()
            self.dataset, self.problem = dataset, problem

    def __init__(self, base: cfgmod.RunConfig | None = None, origin: str = "") -> None:
        super().__init__()
        self.origin = origin
        self.base = base or cfgmod.preset(DEFAULT_PRESET)
        self.config: cfgmod.RunConfig | None = self.base
        self.problems: dict[str, list[str]] = {}
        self.warnings: dict[str, list[str]] = {}
        self.offline: dict[str, str | None] = {}  # tokenizer -> why it needs a download (engine.data.offline)
        self.dataset_checked: tuple[str, str | None] | None = None  # (dataset, why a run cannot read it)
        self.device: em.Device | None = None
        self.caps: cfgmod.DeviceCaps | None = None
        self.calibration: em.Calibration | None = None

    def compose(self) -> ComposeResult:
        texts = em.form_texts(self.base)
        yield EngineBar(f"new run{' from ' + self.origin if self.origin else ''}")
        with Horizontal(id="editor-body"):
            with VerticalScroll(id="form"):
                yield from self.compose_head()
                for group, names in em.FORM_GROUPS:
                    yield Label(group, classes="group-title")
                    for name in names:
                        yield FieldRow(name, texts[name])
            with VerticalScroll(id="editor-side"):
                yield EstimatePanel(id="estimates")
                yield Static("", id="form-status")
                yield Static("", id="lrfind-line")  # ctrl+l's test, as it goes (tui.screens.lrfind_editor)
                with Horizontal(id="editor-buttons"):
                    yield Button("queue ^s", id="queue", variant="primary", compact=True)
                    yield Button("queue & watch ^t", id="queue-watch", compact=True)
        yield Static("", id="field-help")
        yield Footer(compact=True)

    def compose_head(self) -> ComposeResult:
        """Name and preset head the form (Tab walks it top to bottom, the name first); a fork's differ."""
        with Horizontal(classes="side-line"):
            yield Label("name", classes="side-label")
            yield Input(placeholder="optional, part of the run id", id="run-name", compact=True)
        with Horizontal(classes="side-line"):
            yield Label("preset", classes="side-label")
            yield Select(
                [(name, name) for name in PRESETS],
                prompt="(from run)" if self.origin else "preset…",
                value=Select.NULL if self.origin else DEFAULT_PRESET,
                compact=True,
                id="preset",
            )

    def on_mount(self) -> None:
        for scroll in self.query(VerticalScroll):
            scroll.can_focus = False  # Tab walks the fields, not their containers
        self.query_one("#estimates", EstimatePanel).show_message("estimating…", style="dim")
        self.read_device()
        self.validate()
        self.query_one("#run-name").focus()

    @property
    def rows(self) -> dict[str, FieldRow]:
        if not hasattr(self, "_rows"):
            self._rows = {row.field_name: row for row in self.query(FieldRow)}
        return self._rows

    def texts(self) -> dict[str, str]:
        return {name: row.value_text for name, row in self.rows.items()}

    # -- validation as you type --------------------------------------------------------
    @on(Input.Changed, ".field-input")
    def field_changed(self) -> None:
        self.validate()

    def validate(self, estimate: bool = True) -> None:
        check = em.check_form(self.texts(), self.caps)
        problems = dict(check.problems)
        cfg = check.config
        missing = (
            self.dataset_checked[1] if cfg and self.dataset_checked and self.dataset_checked[0] == cfg.dataset else None
        )
        if missing:
            problems["dataset"] = [missing]
        problems.update(self.more_problems(cfg) if cfg is not None else {})
        self.config, self.problems, self.warnings = cfg, problems, check.warnings
        for name, row in self.rows.items():
            row.show_problems(problems.get(name, []))
        if problems:
            count = sum(len(m) for m in problems.values())
            self.show_status(f"[red]✘ {count} problem{'s' if count > 1 else ''}: see the fields in red[/]")
            if cfg is None:
                self.query_one("#estimates", EstimatePanel).show_message("fix the fields in red to see estimates")
        elif cfg is not None and not is_builtin(cfg.dataset) and self.dataset_checked != (cfg.dataset, None):
            self.show_status("[dim]… checking the dataset[/]")
        else:
            self.show_status("\n".join(["[green]✔ ready to queue[/]", *self.warning_lines()]))
        if cfg is not None and estimate:
            self.estimate(cfg)  # which also checks the dataset, off this thread

    def more_problems(self, cfg: cfgmod.RunConfig) -> dict[str, list[str]]:
        """Problems by field that a kind of run adds to a valid config's (a fork's editor has some)."""
        return {}

    def warning_lines(self) -> list[str]:
        warnings = [m for messages in self.warnings.values() for m in messages]
        download = self.offline.get(self.config.tokenizer) if self.config is not None else None
        return [f"[yellow]⚠ {escape(m)}[/]" for m in (*warnings, *([download] if download else []))]

    # -- a tiktoken encoding that would need the network: asked in a subprocess, once a name --
    @on(Input.Changed, "#f-tokenizer")
    @work(thread=True, group="offline", exit_on_error=False)
    def check_offline(self, event: Input.Changed) -> None:
        from engine.data.offline import download_warning

        name = event.value.strip()
        if name not in self.offline:
            warning = download_warning(name)
            self.app.call_from_thread(self.offline_checked, name, warning)

    def offline_checked(self, name: str, warning: str | None) -> None:
        self.offline[name] = warning
        self.validate()

    def show_status(self, markup: str) -> None:
        status = self.query_one("#form-status", Static)
        if getattr(status, "markup_shown", None) != markup:
            status.markup_shown = markup
            status.update(markup)

    @on(DescendantFocus)
    def show_field_help(self, event: DescendantFocus) -> None:
        widget_id = event.widget.id or ""
        if widget_id.startswith("f-"):
            name = widget_id[2:]
            self.query_one("#field-help", Static).update(
                f"[b]{name}[/] ({cfgmod.field_group(name)}): {cfgmod.field_help(name)}"
            )

    # -- presets -----------------------------------------------------------------------
    @on(Select.Changed, "#preset")
    def preset_chosen(self, event: Select.Changed) -> None:
        if event.value is Select.NULL:
            return
        texts = em.form_texts(cfgmod.preset(str(event.value)))
        for name, row in self.rows.items():
            if row.value_text != texts[name]:
                row.set_text(texts[name])

    # -- estimates (the vocabulary may mean reading a corpus: off the UI thread) -------
    @work(thread=True, group="device", exit_on_error=False)
    def read_device(self) -> None:
        from engine.serve.devices import device_caps

        if self.app.device is not None:
            device = self.app.device
            caps = cfgmod.DeviceCaps(cuda_count=int(device.kind == "cuda"), cuda_bf16=device.kind == "cuda")
        else:
            device, caps = em.engine_device(self.app.store), device_caps()
        calibration = em.calibrate(self.app.store, device.name)
        self.post_message(self.DeviceRead(device, caps, calibration))

    @on(DeviceRead)
    def device_read(self, message: DeviceRead) -> None:
        self.device, self.caps, self.calibration = message.device, message.caps, message.calibration
        self.validate()

    @work(thread=True, exclusive=True, group="estimate", exit_on_error=False)
    def estimate(self, cfg: cfgmod.RunConfig) -> None:
        device, calibration = measured = (self.device, self.calibration)
        problem = em.dataset_problem(cfg.dataset, cfg.text_field)
        self.post_message(self.DatasetRead(cfg.dataset, problem))
        if problem is not None:
            self.post_message(self.EstimateRead(cfg, None, problem))
            return
        try:
            vocab = vocab_size(cfg.dataset, cfg.tokenizer, self.app.store.datasets_dir, cfg.text_field)
        except (GptTuiError, ValueError, OSError) as e:
            self.post_message(self.EstimateRead(cfg, None, f"vocabulary unknown: {e}"))
            return
        lines = em.estimate_lines(cfg, vocab, device, calibration, self.app.store.datasets_dir)  # + tokens/param
        self.post_message(self.EstimateRead(cfg, lines, measured=measured))

    @on(DatasetRead)
    def dataset_read(self, message: DatasetRead) -> None:
        if self.dataset_checked != (message.dataset, message.problem):
            self.dataset_checked = (message.dataset, message.problem)
            self.validate(estimate=False)  # the estimate that checked it follows this message

    @on(EstimateRead)
    def estimate_read(self, message: EstimateRead) -> None:
        if message.config != self.config or (
            message.lines is not None and message.measured != (self.device, self.calibration)
        ):
            return  # typed over since, or made before the device was read: a newer one follows
        panel = self.query_one("#estimates", EstimatePanel)
        if message.lines is None:
            panel.show_message(message.error)
        else:
            panel.show_lines(message.lines)

    # -- queueing ----------------------------------------------------------------------
    @on(Button.Pressed, "#queue")
    def queue_pressed(self) -> None:
        self.action_queue(False)

    @on(Button.Pressed, "#queue-watch")
    def queue_watch_pressed(self) -> None:
        self.action_queue(True)

    def action_queue(self, watch: bool) -> None:
        self.validate()
        if self.problems or self.config is None:
            first = next(iter(self.problems))
            self.notify(f"not queued: {first}: {self.problems[first][0]}", severity="error")
            if first in self.rows:
                self.query_one(f"#f-{first}").focus()
            return
        name = self.query_one("#run-name", Input).value.strip() or None
        self.submit(self.config, name, watch)

    @work(thread=True, group="submit", exit_on_error=False)
    def submit(self, cfg: cfgmod.RunConfig, name: str | None, watch: bool) -> None:
        source = f"tui (from {self.origin})" if self.origin else "tui"
        problem = em.dataset_problem(cfg.dataset, cfg.text_field)  # checked again: it may have been typed a moment ago
        if problem is not None:
            self.post_message(self.DatasetRead(cfg.dataset, problem))
            self.app.call_from_thread(self.notify, f"not queued: dataset: {problem}", severity="error")
            return
        run_id = control.submit(self.app.store, cfg, name, source=source)
        self.app.call_from_thread(self.queued, run_id, watch)

    def queued(self, run_id: str, watch: bool) -> None:
        self.notify(f"queued {run_id}")
        self.app.ensure_engine()
        self.dismiss((run_id, watch))

    def action_leave(self) -> None:
        self.dismiss(None)
