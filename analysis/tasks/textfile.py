"""Reading corpus files as text, turning every file-level failure into a :class:`DataError`."""
from __future__ import annotations

from pathlib import Path

from .base import DataError


def read_bytes(path: Path) -> bytes:
    """The file's bytes; a missing, unreadable or empty file is a :class:`DataError`."""
    if not path.exists():
        raise DataError(path, None, "no such file")
    if not path.is_file():
        raise DataError(path, None, "not a regular file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(path, None, f"cannot read the file ({exc.strerror or exc})") from exc
    if not data.strip():
        raise DataError(path, None, "the file is empty")
    return data


def read_lines(path: Path, *, fallback: str | None = None) -> list[str]:
    """The file's lines (1-based line ``n`` is item ``n - 1``), decoded as UTF-8.

    A line that is not UTF-8 is a :class:`DataError` naming it, unless ``fallback`` names an
    encoding to decode such lines with (TREC's release has one stray Latin-1 byte).
    """
    lines = []
    for n, raw in enumerate(read_bytes(path).split(b"\n"), start=1):
        raw = raw.rstrip(b"\r")
        if n == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            if fallback is None:
                raise DataError(path, n, f"not UTF-8 text (byte {raw[exc.start]:#04x} at column "
                                          f"{exc.start + 1})") from exc
            lines.append(raw.decode(fallback))
    if lines and lines[-1] == "":
        lines.pop()
    return lines
