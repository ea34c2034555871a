"""`python -m engine.serve.launch --nproc N RUN_DIR [--store ROOT]`: a run's DDP processes on one machine's CPU.

torchrun starts multi-GPU runs; its rendezvous store listens on every network address. A CPU
job (gloo) needs none of that: its ranks meet through a file in the run directory and talk over
loopback, so nothing here opens a port beyond this machine. Like torchrun with --max-restarts=0,
a rank that dies ends the job; the engine then resumes the run from its checkpoint.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.serve.launch", description=__doc__)
    p.add_argument("--nproc", type=int, required=True)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--store", type=Path, help="the store root, handed on to each rank's worker")
    a = p.parse_args(argv)
    store = ["--store", str(a.store)] if a.store is not None else []
    rendezvous = a.run_dir / f".rendezvous-{os.getpid()}-{time.time_ns()}"
    base = {
        **os.environ,
        "WORLD_SIZE": str(a.nproc),
        "GPT_TUI_DIST_INIT": f"file://{rendezvous.resolve()}",
        "GLOO_SOCKET_IFNAME": os.environ.get("GLOO_SOCKET_IFNAME", "lo"),
    }
    ranks = [
        subprocess.Popen(
            [sys.executable, "-m", "engine.worker", str(a.run_dir), *store],
            env={**base, "RANK": str(r), "LOCAL_RANK": str(r)},
        )
        for r in range(a.nproc)
    ]

    def forward(signum, frame):
        for proc in ranks:
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = 0
    try:
        while any(proc.poll() is None for proc in ranks):
            failed = [proc.returncode for proc in ranks if proc.returncode not in (None, 0)]
            if failed:
                code = failed[0]
                for proc in ranks:  # the others would wait forever in their next collective
                    if proc.poll() is None:
                        proc.kill()
                break
            time.sleep(0.1)
        for proc in ranks:
            proc.wait()
        code = code or next((proc.returncode for proc in ranks if proc.returncode), 0)
    finally:
        rendezvous.unlink(missing_ok=True)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
