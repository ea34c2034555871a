"""The two worlds: light engine modules load neither textual nor torch; the TUI never loads torch."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIGHT_PACKAGES = ["core", "store", "sweeps", "serve", "data", "reports"]  # everything in engine/ but train/


def light_engine_modules() -> list[str]:
    return sorted(
        f"engine.{package}.{path.stem}" if path.stem != "__init__" else f"engine.{package}"
        for package in LIGHT_PACKAGES
        for path in (ROOT / "engine" / package).glob("*.py")
    )


def loaded_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


@pytest.mark.parametrize("module", light_engine_modules())
def test_light_engine_module_imports_neither_textual_nor_torch(module):
    loaded = loaded_after_import(module)
    assert "torch" not in loaded and "textual" not in loaded
    if module not in ("engine.sweeps.tpe", "engine.sweeps.importance"):  # optuna's users, engine side only
        assert "optuna" not in loaded


def tui_modules() -> list[str]:
    import tui

    names = ["tui"]
    for info in pkgutil.walk_packages(tui.__path__, "tui."):
        if info.name != "tui.__main__":  # runs the command when imported
            names.append(info.name)
    return names


@pytest.mark.parametrize("module", tui_modules())
def test_tui_module_never_loads_torch(module):
    loaded = loaded_after_import(module)
    assert "torch" not in loaded
    assert "optuna" not in loaded  # engine-side only: importances run in `python -m engine.sweeps.report`


def test_no_engine_module_imports_textual():
    offenders = [
        p.name
        for p in (ROOT / "engine").rglob("*.py")
        if "import textual" in p.read_text() or "from textual" in p.read_text()
    ]
    assert offenders == []


def test_the_cli_runs_without_loading_torch():
    code = (
        "import sys\nfrom tui.cli import main\nmain(['presets'])\n"
        "assert 'torch' not in sys.modules, 'torch was loaded'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)


def test_the_running_app_never_loads_torch(tmp_path):
    """Open every screen headless (runs, editor with estimates, monitor, compare, sample, help)
    and look at sys.modules: the TUI must never compete with training for the GIL."""
    code = f"""
import asyncio, sys
from pathlib import Path
from tests.tui_store import RUNNING, build_store, make_app, runs_loaded, until

async def visit_every_screen():
    store = build_store(Path({str(tmp_path / "runs")!r}))
    app = make_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await runs_loaded(pilot)
        await pilot.press("n")
        await until(pilot, lambda: getattr(app.screen, "device", None) is not None)
        await pilot.pause(0.3)
        await pilot.press("escape")
        app.open_monitor(RUNNING)
        await until(pilot, lambda: getattr(app.screen, "status", None))
        await pilot.press("escape")
        app.open_compare(store.list_runs()[:2])
        await until(pilot, lambda: getattr(app.screen, "diff", None))
        await pilot.press("escape")
        app.open_sample(RUNNING)
        await pilot.pause(0.2)
        await pilot.press("escape", "question_mark")
        await pilot.pause(0.2)

asyncio.run(visit_every_screen())
assert "torch" not in sys.modules, "torch was loaded"
assert "optuna" not in sys.modules, "optuna was loaded"
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stdout[-2000:] + out.stderr[-2000:]
