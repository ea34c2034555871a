"""Text from a run's checkpoint. The sampler runs as `python -m engine.train.sample` in a subprocess
(this process never imports torch; the sampler yields the CPU to training) and its output streams in
as it comes. A blank seed draws a new one each time (shown, to get the same text again); a set one
gives the same text each time."""

from __future__ import annotations

import asyncio
import codecs
import os
import random

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Log, Select, Static

from tui.models.sample_command import sample_command
from tui.widgets import EngineBar


class SampleScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+g", "generate", "generate", priority=True, tooltip="generate (enter in a field too)"),
        Binding("ctrl+b", "halt", "stop", priority=True, tooltip="stop generating (break)"),
        Binding("escape", "app.pop_screen", "back"),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.exit_code: int | None = None
        self.error = ""
        self.seed: int | None = None  # the last generation's

    def compose(self) -> ComposeResult:
        yield EngineBar("sample")
        yield Static(f"from run [b]{self.run_id}[/]", id="sample-title")
        yield Input(placeholder="prompt: text to continue (enter generates)", id="prompt", compact=True)
        with Horizontal(id="sample-form"):
            yield Label("tokens", classes="sample-label")
            yield Input("200", id="tokens", compact=True, type="integer", classes="sample-number")
            yield Label("temp", classes="sample-label")
            yield Input("0.8", id="temperature", compact=True, type="number", classes="sample-number")
            yield Label("top-k", classes="sample-label")
            yield Input("200", id="top-k", compact=True, type="integer", classes="sample-number")
            yield Label("seed", classes="sample-label")
            yield Input(placeholder="new", id="seed", compact=True, type="integer", classes="sample-number")
            yield Select(
                [("best", "best"), ("last", "last")], value="best", allow_blank=False, compact=True, id="checkpoint"
            )
            yield Button("generate ^g", id="generate", variant="primary", compact=True)
        yield Log(id="sample-out")
        yield Static("", id="sample-status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#prompt", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#generate")
    def generate_requested(self) -> None:
        self.action_generate()

    def action_generate(self) -> None:
        try:
            tokens = int(self.query_one("#tokens", Input).value)
            temperature = float(self.query_one("#temperature", Input).value)
            top_k = int(self.query_one("#top-k", Input).value)
            seed_text = self.query_one("#seed", Input).value.strip()
            self.seed = int(seed_text) if seed_text else random.randrange(2**31)
            if not 0 <= self.seed < 2**63:
                raise ValueError(self.seed)
        except ValueError:
            self.show_status("tokens, top-k and seed (from 0) must be whole numbers, temperature a number", "red")
            return
        run_dir = str(self.app.store.run_dir(self.run_id).resolve())
        cmd = sample_command(
            run_dir,
            self.query_one("#prompt", Input).value,
            tokens,
            temperature,
            top_k,
            str(self.query_one("#checkpoint", Select).value),
            seed=self.seed,
        )
        self.query_one("#sample-out", Log).clear()
        self.stream(cmd)

    def action_halt(self) -> None:
        self.workers.cancel_group(self, "sample")

    def show_status(self, text: str, style: str = "") -> None:
        self.query_one("#sample-status", Static).update(Text(text, style=style))

    @work(exclusive=True, group="sample", exit_on_error=False)
    async def stream(self, cmd: list[str]) -> None:
        self.exit_code, self.error = None, ""
        self.show_status("loading the checkpoint…", "yellow")
        out = self.query_one("#sample-out", Log)
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            first = True
            while chunk := await proc.stdout.read(256):
                if first:
                    self.show_status("generating… (ctrl+b stops)", "green")
                    first = False
                out.write(decoder.decode(chunk))
            out.write(decoder.decode(b"", final=True))
            err = (await proc.stderr.read()).decode(errors="replace").strip()
            self.exit_code = await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
                self.show_status("stopped", "yellow")
        if self.exit_code:
            self.error = err.splitlines()[-1].removeprefix("error: ") if err else f"exit code {self.exit_code}"
            self.show_status(f"✘ {self.error}", "red")
        else:
            self.show_status(f"✔ done (seed {self.seed}: type it in to get this text again)", "green")
