"""The one base of every problem a person can fix: the CLI prints it and exits 2, the app shows it.
Anything else that escapes is a bug in gpt-tui and is shown as one."""

from __future__ import annotations


class GptTuiError(Exception):
    """A problem with what a person asked for or with a file they can fix; the message says what to do."""
