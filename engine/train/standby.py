"""`python -m engine.worker --standby --store ROOT`: the engine's standby worker. It imports torch and
the training code ahead of need, then waits on its standard input (a socket the engine holds) for one
run: the run's folder, its store, its environment and its worker.log (a descriptor). Then it is that
run's worker, the same code as `python -m engine.worker RUN_DIR --store ROOT`. End of input (the engine
stopped or died) before a run came: it exits at once, leaving nothing behind.

engine.serve.standby is the engine's side. A handed-over standby keeps its command line: engines
find it as a run's worker by the run's .worker.lock it holds (engine.serve.liveness.worker_of).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from engine.train import startup

MESSAGE_MAX = 1 << 20
LOOK_EVERY_S = 5.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.worker --standby", description=__doc__)
    p.add_argument("--standby", action="store_true", required=True)
    p.add_argument("--store", type=Path, required=True, help="the store root of the engine that started it")
    args = p.parse_args(argv)
    return serve(Path(os.path.abspath(args.store)))


def serve(store_root: Path) -> int:
    signal.signal(signal.SIGTERM, stop_unless_handed)
    signal.signal(signal.SIGINT, stop_unless_handed)
    startup.preload()
    ready = time.time()
    handed = wait_for_run()
    if handed is None:
        return 0
    startup.note_stop_signals()  # the run's now: its worker's main() acts on a stop signal
    message, log_fd = handed
    take_output(log_fd)
    if Path(message["store"]) != store_root:
        print(f"error: handed a run of {message['store']}, but this standby serves {store_root}", file=sys.stderr)
        return 2
    os.environ.clear()  # the run's environment, before anything reads CUDA_VISIBLE_DEVICES
    os.environ.update(message["env"])
    sent = float(message["sent"])
    timeline = startup.Timeline(min(sent, time.time()), startup.HAND_OVER)
    if ready > sent:  # handed over while still importing (a cold start): the run waited for it
        timeline.mark("imports", ready)
    timeline.mark("hand-over")
    from engine.train.recorder import log
    from engine.train.worker import main as worker_main

    waited = "while it was importing" if ready > sent else f"{sent - ready:.1f} s after it was ready"
    log(f"standby worker {os.getpid()}: handed the run {waited}")
    return worker_main([message["run_dir"], "--store", message["store"]], timeline)


def stop_unless_handed(signum: int, frame: object) -> None:
    """A stop signal before the standby took a run: idle (nothing waiting on its socket), it dies of
    it as it would by default; with a run's message already waiting (handed over while it imports),
    the signal is that run's, noted for its worker to act on (the run ends `stopped`, resumable)."""
    try:
        with socket.socket(fileno=os.dup(0)) as sock:
            waiting = bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except OSError:  # nothing waiting (BlockingIOError), or no socket at all
        waiting = False
    if waiting:
        startup.note_signal(signum)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def wait_for_run() -> tuple[dict[str, Any], int] | None:
    """The engine's one message and the descriptor it carries; None at the end of input, or for a
    message that is not one (then there is no run to fail: the engine starts its worker afresh)."""
    from engine.train.host import PROCESS

    sock = socket.socket(fileno=os.dup(0))
    sock.settimeout(LOOK_EVERY_S)
    try:
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(sock, MESSAGE_MAX, 1)
                break
            except TimeoutError:
                PROCESS.look_again()  # the run's threads follow the machine as it is when it comes
    except OSError:
        return None
    finally:
        sock.close()
    if not data or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        return None
    try:
        message = json.loads(data)
        if not all(isinstance(message.get(k), str) for k in ("run_dir", "store")):
            raise ValueError("no run_dir or store")
        if not isinstance(message.get("env"), dict) or not isinstance(message.get("sent"), (int, float)):
            raise ValueError("no env or sent")
    except ValueError:
        os.close(fds[0])
        return None
    return message, fds[0]


def take_output(log_fd: int) -> None:
    """Standard output and error to the run's worker.log, standard input from /dev/null: the same
    as a worker the engine starts for the run."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # the engine's socket closes here
    os.close(null)
