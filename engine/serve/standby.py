"""The engine's standby worker: one process spawned ahead of need, torch and the training code imported,
handed the next run that would otherwise get a fresh worker. A run then starts without waiting ~1.5 s
(more on a busy machine) for the imports. engine.train.standby is the worker's side.

Only a single-process local launch is handed over, and only when its environment is the standby's
but for what each launch sets (the GPUs, the attempt id): whatever torch reads at import is the same.
The standby waits on a socket whose other end only the engine holds: an engine that stops or dies
closes it, and an idle standby exits.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

PER_LAUNCH = frozenset({"CUDA_VISIBLE_DEVICES", "GPT_TUI_ATTEMPT"})
RESPAWN_AFTER_S = 5.0  # after a hand-over: the next standby's imports do not slow that run's start
GIVE_UP_AFTER = 3  # idle standby deaths in a row before the engine stops keeping one
STOP_WAIT_S = 2.0


def standby_command(store_root: Path) -> list[str]:
    return [sys.executable, "-m", "engine.worker", "--standby", "--store", str(store_root)]


class Standby:
    """At most one idle standby worker for an engine's store, with the environment its workers get."""

    def __init__(self, store_root: Path, env: dict[str, str], log: Callable[[str], None]) -> None:
        self.store_root, self.env, self.log = store_root, env, log
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.handed_at = -math.inf
        self.deaths = 0

    def upkeep(self, spare: bool = True) -> None:
        """Notice an idle standby that died; start one when there is none and the machine has room
        for its imports (`spare`: not while a CPU engine's every slot trains), not at once after a
        hand-over, and not after GIVE_UP_AFTER deaths in a row."""
        if self.proc is not None and self.proc.poll() is not None:
            self.deaths += 1
            gave_up = self.deaths >= GIVE_UP_AFTER
            self.log(
                f"standby worker {self.proc.pid} exited (code {self.proc.returncode}) before it was handed a run"
                + ("; no more standby workers: runs start fresh ones (see engine.log)" if gave_up else "")
            )
            self._forget()
        if (
            spare
            and self.proc is None
            and self.deaths < GIVE_UP_AFTER
            and time.monotonic() - self.handed_at >= RESPAWN_AFTER_S
        ):
            self.spawn()

    def spawn(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # both ends close on exec
        try:
            self.proc = subprocess.Popen(
                standby_command(self.store_root),
                stdin=theirs.fileno(),  # its output goes to the engine's log until it is handed a run
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,  # like every worker: a session of its own, outliving the engine
            )
        except OSError as e:
            ours.close()
            self.deaths += 1
            self.log(f"standby worker not started: {e}")
            return
        finally:
            theirs.close()
        self.sock = ours

    def hand_over(self, run_dir: Path, store_root: Path | None, processes: int, env: dict[str, str], log_fd: int):
        """Hand the run to the idle standby (still importing, or ready); its Popen, now the run's
        worker, or None when it cannot take this launch (the caller starts a fresh worker)."""
        proc, sock = self.proc, self.sock
        if proc is None or sock is None or processes != 1 or proc.poll() is not None:
            return None
        if (store_root or run_dir.parent) != self.store_root or _lasting(env) != _lasting(self.env):
            return None
        message = {"run_dir": str(run_dir), "store": str(self.store_root), "env": env, "sent": time.time()}
        try:
            socket.send_fds(sock, [json.dumps(message).encode()], [log_fd])
        except OSError as e:  # it died just now, or the environment is too large for one message
            self.log(f"standby worker {proc.pid} could not be handed {run_dir.name} ({e}); a fresh worker starts it")
            self.close()
            return None
        sock.close()
        self._forget()
        self.handed_at, self.deaths = time.monotonic(), 0
        return proc

    def close(self) -> None:
        """The engine stops: its idle standby goes with it."""
        proc = self.proc
        if self.sock is not None:
            self.sock.close()  # an idle standby that is past its imports reads the end and exits
        self._forget()
        if proc is None or proc.poll() is not None:
            return
        try:
            os.kill(proc.pid, signal.SIGTERM)  # one still importing need not finish first
            proc.wait(STOP_WAIT_S)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _forget(self) -> None:
        self.proc, self.sock = None, None


def _lasting(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in PER_LAUNCH}
