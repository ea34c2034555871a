"""The two worlds: light engine modules load neither textual nor torch; the TUI never loads torch."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIGHT_ENGINE_MODULES = ["engine.config", "engine.rules", "engine.presets", "engine.estimate", "engine.store",
                        "engine.tomllog", "engine.sweep", "engine.corpus", "engine.tokenize", "engine.schedule",
                        "engine.telemetry"]


def loaded_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def existing(modules: list[str]) -> list[str]:
    import importlib.util
    return [m for m in modules if importlib.util.find_spec(m) is not None]


@pytest.mark.parametrize("module", existing(LIGHT_ENGINE_MODULES))
def test_light_engine_module_imports_neither_textual_nor_torch(module):
    loaded = loaded_after_import(module)
    assert "torch" not in loaded and "textual" not in loaded


def tui_modules() -> list[str]:
    import tui
    names = ["tui"]
    for info in pkgutil.walk_packages(tui.__path__, "tui."):
        if info.name != "tui.__main__":  # runs the command when imported
            names.append(info.name)
    return names


@pytest.mark.parametrize("module", tui_modules())
def test_tui_module_never_loads_torch(module):
    assert "torch" not in loaded_after_import(module)


def test_no_engine_module_imports_textual():
    offenders = [p.name for p in (ROOT / "engine").glob("*.py")
                 if "import textual" in p.read_text() or "from textual" in p.read_text()]
    assert offenders == []


def test_the_cli_runs_without_loading_torch():
    code = ("import sys\nfrom tui.cli import main\nmain(['presets'])\n"
            "assert 'torch' not in sys.modules, 'torch was loaded'\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)
