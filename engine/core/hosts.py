"""The name of this machine, as the store records it ($GPT_TUI_HOST, else the host name)."""

from __future__ import annotations

import os
import socket


def this_host() -> str:
    return os.environ.get("GPT_TUI_HOST") or socket.gethostname()
