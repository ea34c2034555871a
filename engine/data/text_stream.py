"""Plain text as one stream of UTF-8 bytes, read from any byte offset in pieces of bounded size.

The stream is what `read_corpus` returns, never held whole: each file's bytes (a leading BOM left
out, as utf-8-sig decoding does) with a blank line between files. An offset is a place in it, so an
interrupted preparation starts again exactly where its last complete unit ended.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.data.corpus import FILE_SEPARATOR, DataError

READ_BYTES = 1 << 20
BOM = codecs.BOM_UTF8


@dataclass(frozen=True)
class Segment:
    """Bytes [skip, skip + size) of a file, or literal bytes (the built-in text, a separator)."""

    size: int
    path: Path | None = None
    skip: int = 0
    data: bytes = b""


class TextStream:
    def __init__(self, segments: list[Segment]) -> None:
        self.segments = segments
        self.total = sum(s.size for s in segments)

    @classmethod
    def of_text(cls, text: str) -> TextStream:
        data = text.encode("utf-8", errors="surrogatepass")
        return cls([Segment(len(data), data=data)])

    @classmethod
    def of_files(cls, files: list[Path]) -> TextStream:
        separator = FILE_SEPARATOR.encode()
        segments: list[Segment] = []
        for i, path in enumerate(files):
            if i:
                segments.append(Segment(len(separator), data=separator))
            with open(path, "rb") as f:
                skip = len(BOM) if f.read(len(BOM)) == BOM else 0
            segments.append(Segment(path.stat().st_size - skip, path=path, skip=skip))
        return cls(segments)

    def pieces(self, start: int = 0) -> Iterator[str]:
        """The text from byte `start` (a character boundary) to the end, a MiB or so at a time."""
        offset = start
        for segment in self.segments:
            if offset >= segment.size:
                offset -= segment.size
                continue
            if segment.path is None:
                yield segment.data[offset:].decode("utf-8", errors="surrogatepass")
            else:
                yield from _file_pieces(segment, offset)
            offset = 0


def _file_pieces(segment: Segment, offset: int) -> Iterator[str]:
    assert segment.path is not None
    decoder = codecs.getincrementaldecoder("utf-8")()
    at = segment.skip + offset
    with open(segment.path, "rb") as f:
        f.seek(at)
        while True:
            block = f.read(READ_BYTES)
            pending = len(decoder.getstate()[0])  # the bytes of a character cut at the last block's end
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as e:
                raise DataError(
                    f"{segment.path}: not UTF-8 text (undecodable byte at offset {at - pending + e.start}); "
                    "convert it to UTF-8 or leave it out"
                ) from None
            at += len(block)
            if text:
                yield text
            if not block:
                return
