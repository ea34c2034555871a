"""A new sweep: its name, method, hyperparameters and their values or ranges, trials, the lesson's batch
and LR rules, early stopping, budgets; the number of trials and the estimated time as you type; queue it.

The form builds the same SweepRequest as `gpt-tui sweep METHOD` (tui.models.sweep_request) and
queues it through the same plan and engine.sweeps.files.create, so the two queue the same sweep;
the equivalent command is shown under the form."""

from __future__ import annotations

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Footer, Input, Label, Select, Static

from engine.core import config as cfgmod
from engine.core.config import ConfigError
from engine.core.errors import GptTuiError
from engine.core.presets import PRESETS
from engine.sweeps import files as sf
from engine.sweeps import spec as sw
from tui.models import sweep_form as form
from tui.models.sweep_request import SweepRequest
from tui.widgets import EngineBar

PARAM_ROWS = 4
DEFAULT_PRESET = "quickstart"
METHODS = ("grid", "random", "tpe")
NUMBERS = {  # input id -> (the SweepRequest field it fills, its type)
    "sweep-n": ("n_trials", int),
    "sweep-seed": ("seed", int),
    "sweep-parallel": ("parallel", int),
    "sweep-startup": ("early_stop_startup", int),
    "sweep-min-step": ("early_stop_min_step", int),
    "sweep-max-trials": ("max_trials", int),
    "sweep-max-hours": ("max_hours", float),
}


class SweepScreen(Screen[str | None]):
    """Dismissed with the sweep id once queued, or None when left."""

    # The app's stylesheet belongs to the other screens' author; these few rules can move there.
    DEFAULT_CSS = """
    SweepScreen .sweep-line { height: 1; margin-bottom: 1; }
    SweepScreen .sweep-label { width: 18; color: $text-muted; }
    SweepScreen .sweep-param { width: 24; }
    SweepScreen .sweep-values, SweepScreen #sweep-set { width: 1fr; }
    SweepScreen .sweep-number { width: 12; }
    SweepScreen #sweep-plan { height: auto; max-height: 8; padding: 0 1; background: $panel; }
    """
    BINDINGS = [
        Binding("ctrl+s", "queue", "queue", priority=True),
        Binding("ctrl+r", "report", "report", priority=True, tooltip="report.md + figures: the named or newest sweep"),
        Binding("ctrl+o", "transfer", "transfer best →", priority=True, tooltip="µTransfer: a sweep's best, wider"),
        Binding("escape", "leave", "back"),
    ]

    class PlanRead(Message):
        def __init__(self, request: SweepRequest, text: str, ok: bool) -> None:
            super().__init__()
            self.request, self.text, self.ok = request, text, ok

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, SweepScreen.PlanRead)

    def __init__(self) -> None:
        super().__init__()
        self.ready = False
        self.command = ""
        self.problem = ""

    def compose(self) -> ComposeResult:
        def line(label: str, *widgets):
            return Horizontal(Label(label, classes="sweep-label"), *widgets, classes="sweep-line")

        def number(id_: str, placeholder: str = "") -> Input:
            return Input(placeholder=placeholder, id=id_, classes="sweep-number", compact=True)

        yield EngineBar("new sweep")
        with VerticalScroll(id="form"):
            # The name heads the form, as in the editor: Tab walks the layout top to bottom.
            yield line("name", Input(placeholder="optional: the sweep id", id="sweep-name", compact=True))
            yield Label("what to search", classes="group-title")
            yield line(
                "method",
                Select([(m, m) for m in METHODS], value="grid", allow_blank=False, id="sweep-method", compact=True),
            )
            yield line(
                "base preset",
                Select(
                    [(p, p) for p in PRESETS], value=DEFAULT_PRESET, allow_blank=False, id="sweep-preset", compact=True
                ),
            )
            yield line("base changes", Input(placeholder="key=value ... (as --set)", id="sweep-set", compact=True))
            yield Label("hyperparameters: a,b,c choices · lo:hi uniform · log:lo:hi · int:lo:hi", classes="group-title")
            for i in range(PARAM_ROWS):
                yield line(
                    f"parameter {i + 1}",
                    Input(
                        placeholder="e.g. learning_rate",
                        id=f"param-{i}",
                        classes="sweep-param",
                        compact=True,
                        suggester=SuggestFromList(list(cfgmod.FIELDS), case_sensitive=True),
                    ),
                    Input(placeholder="values or range", id=f"values-{i}", classes="sweep-values", compact=True),
                )
            yield Label("trials", classes="group-title")
            yield line("n (random, tpe)", number("sweep-n", "20"))
            yield line("seed", number("sweep-seed", "0"))
            yield line("in flight (tpe)", number("sweep-parallel", "1"))
            yield line("µP proxy width", number("sweep-proxy", "n_embd"))  # tune small, then ctrl+o
            yield Label("the lesson's rules", classes="group-title")
            yield line(
                "batch",
                Checkbox("keep the effective batch (accumulation follows)", id="sweep-keep-batch", compact=True),
            )
            yield line(
                "scale LR",
                Select(
                    [(r, r) for r in sw.LR_SCALINGS], value="none", allow_blank=False, id="sweep-scale-lr", compact=True
                ),
            )
            yield Label("early stopping and budgets", classes="group-title")
            yield line(
                "early stopping",
                Select(
                    [(r, r) for r in sw.RULES], value="none", allow_blank=False, id="sweep-early-stop", compact=True
                ),
            )
            yield line("after trials", number("sweep-startup", "3"))
            yield line("from step", number("sweep-min-step", "first eval"))
            yield line("max trials", number("sweep-max-trials", "no cap"))
            yield line("max hours", number("sweep-max-hours", "no limit"))
            yield Button("queue ^s", id="queue-sweep", variant="primary", compact=True)
        yield Static("", id="sweep-plan")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query(VerticalScroll).first().can_focus = False  # Tab walks the fields, not their container
        self.query_one("#sweep-name", Input).focus()
        self.replan()

    # -- the form as a SweepRequest ------------------------------------------------------
    def request(self) -> SweepRequest:
        """The sweep the form asks for; GptTuiError names a number that is not one."""
        method = str(self.query_one("#sweep-method", Select).value)
        params = []
        for i in range(PARAM_ROWS):
            name = self.query_one(f"#param-{i}", Input).value.strip()
            values = self.query_one(f"#values-{i}", Input).value.strip()
            if name or values:
                params.append(f"{name}={values}")
        choices = {}
        for select_id, key in (("#sweep-scale-lr", "scale_lr"), ("#sweep-early-stop", "early_stop")):
            choice = str(self.query_one(select_id, Select).value)
            choices[key] = None if choice == "none" else choice
        numbers = {}
        for input_id, (key, kind) in NUMBERS.items():
            text = self.query_one(f"#{input_id}", Input).value.strip()
            if key == "n_trials" and method == "grid":
                continue
            try:
                numbers[key] = kind(text) if text else None
            except ValueError:
                raise GptTuiError(f"{key.replace('_', ' ')}: {text!r} is not a number") from None
        proxy = self.query_one("#sweep-proxy", Input).value.strip()
        return SweepRequest(
            proxy=(f"n_embd={proxy}",) if proxy else (),
            method=method,
            params=tuple(params),
            preset=str(self.query_one("#sweep-preset", Select).value),
            overrides=tuple(self.query_one("#sweep-set", Input).value.split()),
            name=self.query_one("#sweep-name", Input).value.strip() or None,
            keep_effective_batch=self.query_one("#sweep-keep-batch", Checkbox).value,
            **choices,
            **numbers,
        )

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def form_changed(self) -> None:
        self.replan()

    def replan(self) -> None:
        try:
            request = self.request()
        except GptTuiError as e:
            self.show_plan(f"[red]✘ {escape(str(e))}[/]", False)
            return
        self.plan_in_background(request)

    @work(thread=True, exclusive=True, group="sweep-plan", exit_on_error=False)
    def plan_in_background(self, request: SweepRequest) -> None:
        """Planning reads the store (free sweep ids, earlier runs' speed) and maybe a corpus."""
        command = request.command_line()
        try:
            plan = request.plan(self.app.store)
        except GptTuiError as e:
            problems = e.problems if isinstance(e, ConfigError) else [str(e)]
            text = "\n".join(f"[red]✘ {escape(str(p))}[/]" for p in problems[:6])
            self.post_message(self.PlanRead(request, f"{text}\n[dim]{escape(command)}[/]", False))
            return
        estimate = form.estimate_plan(self.app.store, plan)
        lines = [f"[green]✔[/] sweep [b]{plan.spec.id}[/]: {form.describe(plan.spec)}", estimate.summary(plan)]
        if plan.skipped:
            lines.append(
                f"[yellow]{len(plan.skipped)} invalid combination(s) skipped, e.g. {escape(plan.skipped[0].reason)}[/]"
            )
        self.command = command
        self.post_message(self.PlanRead(request, "\n".join(lines) + f"\n[dim]same as: {escape(command)}[/]", True))

    @on(PlanRead)
    def plan_read(self, message: PlanRead) -> None:
        self.show_plan(message.text, message.ok)

    def show_plan(self, text: str, ok: bool) -> None:
        self.ready = ok
        self.problem = "" if ok else text
        self.query_one("#sweep-plan", Static).update(text)

    # -- queueing ----------------------------------------------------------------------
    @on(Button.Pressed, "#queue-sweep")
    def queue_pressed(self) -> None:
        self.action_queue()

    def action_queue(self) -> None:
        try:
            request = self.request()
        except GptTuiError as e:
            self.notify(f"not queued: {escape(str(e))}", severity="error")
            return
        self.queue(request)

    @work(thread=True, exclusive=True, group="sweep-queue", exit_on_error=False)
    def queue(self, request: SweepRequest) -> None:
        try:
            plan = request.plan(self.app.store)
            record = sf.create(self.app.store, plan, request.priority)
        except GptTuiError as e:
            first = e.problems[0] if isinstance(e, ConfigError) and e.problems else e
            self.app.call_from_thread(self.notify, f"not queued: {escape(str(first))}", severity="error")
            return
        self.app.call_from_thread(self.queued, record.spec.id, len(record.runs))

    def queued(self, sweep_id: str, trials: int) -> None:
        self.notify(f"queued sweep {sweep_id}" + (f": {trials} trial(s)" if trials else ""))
        self.app.ensure_engine()
        self.dismiss(sweep_id)

    # -- a report with pictures --------------------------------------------------------
    def action_report(self) -> None:
        self.write_report(self.query_one("#sweep-name", Input).value.strip())

    @work(thread=True, exclusive=True, group="sweep-report", exit_on_error=False)
    def write_report(self, named: str) -> None:
        """The report of the sweep named in the form, else of the newest, under the store's reports/;
        matplotlib loads here, in this thread, when the key is pressed, never at the app's start."""
        from engine.reports import data as rd
        from engine.reports import write

        store = self.app.store
        sweep_id = named if named and rd.is_sweep(store, named) else rd.newest_sweep(store)
        if sweep_id is None:
            self.app.call_from_thread(self.notify, "no sweep in the store to report yet", severity="warning")
            return
        try:
            data = rd.sweep_report(store, sweep_id)
            written = write.write_report(data, write.default_folder(store.root, data))
        except (GptTuiError, OSError) as e:
            self.app.call_from_thread(self.notify, f"no report: {escape(str(e))}", severity="error", timeout=10)
            return
        note = f"report of sweep {escape(sweep_id)}: {escape(str(written.report))} ({len(written.files) - 1} figure(s))"
        self.app.call_from_thread(self.notify, note, title="report written", timeout=20)

    def action_transfer(self) -> None:
        from tui.screens.transfer import open_transfer

        open_transfer(self.app, self.query_one("#sweep-name", Input).value.strip())

    def action_leave(self) -> None:
        self.dismiss(None)
