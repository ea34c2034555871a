"""The `gpt-tui` command line."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """The console script's entry point (imported late: the modules of the package import each other's helpers)."""
    from tui.cli.main import main as run

    return run(argv)


__all__ = ["main"]
