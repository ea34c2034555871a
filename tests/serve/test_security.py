"""Security: nothing listens beyond loopback, checkpoints load as weights only, the store is never
world-writable whatever the umask, and no code of ours evaluates or unpickles a file."""

from __future__ import annotations

import ast
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from engine.store import runs as st
from engine.sweeps import files as sf
from tests.tui.test_cli_runs import TINY

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for folder in ("engine", "tui") for p in (ROOT / folder).rglob("*.py"))
LOOPBACK = {"127.0.0.1", "::1"}


def with_umask_000(args: list[str], store: Path, **kwargs) -> subprocess.Popen:
    """A process started the way a user with `umask 000` starts it."""
    return subprocess.Popen(
        args, cwd=ROOT, env={**os.environ, "GPT_TUI_RUNS": str(store)}, preexec_fn=lambda: os.umask(0), **kwargs
    )


def gpt_tui_umask_000(store: Path, *args: str) -> None:
    proc = with_umask_000(
        [sys.executable, "-m", "tui", *args], store, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out


def listening(proc: psutil.Process) -> set[str]:
    """Addresses `proc` accepts connections or datagrams on: TCP sockets in LISTEN, unconnected UDP."""
    found = set()
    for conn in proc.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN or (conn.type == socket.SOCK_DGRAM and not conn.raddr):
            found.add(conn.laddr.ip)
    return found


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Under umask 000: a tiny run, a 2-process CPU DDP run and a 2-trial grid sweep queued from the
    CLI and trained by an engine, with the sockets of every process of the engine's tree sampled
    all along. Returns the store, the addresses seen listening and the command lines seen."""
    tmp = tmp_path_factory.mktemp("served")
    root = tmp / "runs"
    gpt_tui_umask_000(root, "run", *TINY, "--name", "plain", "--no-engine")
    gpt_tui_umask_000(
        root,
        "run",
        *TINY,
        "--name",
        "ddp",
        "--set",
        "gpus=2",
        "--set",
        "device=cpu",
        "--set",
        "gradient_accumulation_steps=2",
        "--no-engine",
    )
    gpt_tui_umask_000(root, "sweep", "grid", "learning_rate=2e-3,3e-3", *TINY, "--name", "sec", "--no-engine")
    store = st.Store(root)
    with open(tmp / "engine.log", "wb") as log:  # outside the store: this test's file, not the engine's
        engine = with_umask_000(
            [sys.executable, "-m", "engine", "--runs", str(root), "--workers", "2", "--poll", "0.1"],
            root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    addresses: set[str] = set()
    commands: set[str] = set()
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            try:
                tree = [psutil.Process(engine.pid), *psutil.Process(engine.pid).children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for proc in tree:
                try:
                    addresses |= listening(proc)
                    commands.add(f"{proc.pid}: {' '.join(proc.cmdline())}")  # standby workers' lines are alike
                except psutil.Error:
                    pass  # it ended between the listing and the look
            statuses = store.statuses().values()
            if len(statuses) == 4 and all(isinstance(s, st.Status) and s.settled for s in statuses):
                break
            time.sleep(0.1)
    finally:
        engine.send_signal(signal.SIGTERM)
        engine.wait(60)
    statuses = store.statuses()
    assert len(statuses) == 4 and all(s.state == "done" for s in statuses.values()), statuses
    assert sf.load(store, "sec").runs
    return store, addresses, commands


@pytest.mark.slow
def test_nothing_listens_beyond_loopback_while_an_engine_trains_a_run_a_ddp_job_and_a_sweep(served):
    store, addresses, commands = served
    assert any("engine.serve.launch" in c for c in commands), "the DDP job's processes were never sampled"
    assert sum("engine.worker" in c for c in commands) >= 4  # the ranks and the single runs
    assert addresses <= LOOPBACK, addresses


@pytest.mark.slow
def test_nothing_the_store_holds_is_world_writable_even_under_umask_000(served):
    store, _, _ = served
    paths = [store.root, *store.root.rglob("*")]
    assert any(p.name == "last.pt" for p in paths) and any(p.name == "train-00000.bin" for p in paths)
    assert any(p.name == "worker.log" for p in paths) and any(p.suffix == ".toml" for p in paths)
    writable = [
        f"{stat.filemode(p.lstat().st_mode)} {p.relative_to(store.root)}"
        for p in paths
        if not p.is_symlink() and p.lstat().st_mode & 0o002
    ]
    assert writable == []


# -- the source, read with ast ---------------------------------------------------------------------


def calls(path: Path) -> list[tuple[str, ast.Call]]:
    """Every call in a file, with the dotted name it calls ("torch.load", "eval", "x.y.z")."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            parts, func = [], node.func
            while isinstance(func, ast.Attribute):
                parts.append(func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                out.append((".".join([func.id, *reversed(parts)]), node))
    return out


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{node.lineno}"


def keyword(node: ast.Call, name: str) -> object:
    found = next((k.value for k in node.keywords if k.arg == name), None)
    return found.value if isinstance(found, ast.Constant) else found


def test_every_torch_load_passes_weights_only_true():
    loads = [
        (path, node)
        for path in SOURCES
        for name, node in calls(path)
        if name in ("torch.load", "torch.serialization.load")
    ]
    assert loads, "no torch.load found: the scan is broken"
    unsafe = [where(path, node) for path, node in loads if keyword(node, "weights_only") is not True]
    assert unsafe == []
    imported = [
        f"{path.relative_to(ROOT)}"
        for path in SOURCES
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom)
        and node.module in ("torch", "torch.serialization")
        and any(a.name == "load" for a in node.names)
    ]
    assert imported == []  # a bare `load(...)` would escape the check above


# Modules that turn file contents into code or objects. submitit (engine/executors.py) pickles its
# own job files into runs/slurm/ and unpickles a job's result from there: the executor's files, in
# the store, which is not world-writable (the test above); nothing a user hands gpt-tui is unpickled.
UNPICKLERS = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib", "yaml"}
CODE_FROM_TEXT = {"eval", "exec", "compile", "builtins.eval", "builtins.exec", "pandas.read_pickle"}


def forbidden(path: Path) -> list[str]:
    """Each place in a file that imports an unpickler or turns text into code."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [f"{where(path, node)} import {a.name}" for a in node.names if a.name.split(".")[0] in UNPICKLERS]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNPICKLERS:
            found.append(f"{where(path, node)} from {node.module} import ...")
    for name, node in calls(path):
        if name in CODE_FROM_TEXT:
            found.append(f"{where(path, node)} {name}(...)")
        elif name == "__import__" and not all(isinstance(a, ast.Constant) for a in node.args):
            found.append(f"{where(path, node)} __import__ of a computed name")
        elif name in ("np.load", "numpy.load") and keyword(node, "allow_pickle") not in (None, False):
            found.append(f"{where(path, node)} {name}(allow_pickle=...)")
    return found


def test_no_code_of_ours_evaluates_or_unpickles_a_file():
    assert [f for path in SOURCES for f in forbidden(path)] == []


def test_the_source_scans_catch_what_they_forbid(tmp_path, monkeypatch):
    """An empty result above means something: each forbidden thing, written out, is caught."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import pickle\nfrom yaml import load\nimport numpy as np\nimport torch\neval('1')\n"
        "exec('x = 1')\n__import__(name)\nnp.load('x', allow_pickle=True)\ntorch.load('x')\n"
        "torch.load('x', weights_only=False)\ntorch.load('x', weights_only=True)\n"
    )
    assert [f.split(" ", 1)[0] for f in forbidden(bad)] == [f"bad.py:{n}" for n in (1, 2, 5, 6, 7, 8)]
    assert [keyword(node, "weights_only") for name, node in calls(bad) if name == "torch.load"] == [None, False, True]
