"""Input reading and atomic output writing shared by every command.

Both halves exist so that bad input fails with one clear message and that no
command ever leaves a half-written file behind (the brief's contract).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from clausetag.errors import ClausetagError

#: Larger single inputs are refused: a privacy policy is tens of kilobytes.
DEFAULT_MAX_BYTES = 20 * 1024 * 1024


def human_bytes(n: int) -> str:
    """Sizes in messages: "100 bytes" for a --max-bytes 100, not "0 MB"."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


@contextlib.contextmanager
def atomic_writer(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Write to a temporary file beside ``path`` and rename it into place on success.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
        umask = os.umask(0)  # mkstemp makes the file private; give it the usual mode
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    """Pretty JSON, atomically: model-directory files are read by other tools."""
    with atomic_writer(path) as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=2)
        fh.write("\n")


def _check_size(p: Path, max_bytes: int) -> int:
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise ClausetagError(f"{p}: no such file") from None
    except OSError as exc:
        raise ClausetagError(f"{p}: cannot read ({exc.strerror})") from None
    if p.is_dir():
        raise ClausetagError(f"{p}: is a directory, expected a file")
    if size > max_bytes:
        raise ClausetagError(
            f"{p}: {human_bytes(size)} is larger than the {human_bytes(max_bytes)} limit "
            "for one input (split it, or raise --max-bytes)"
        )
    return size


def decode_text(data: bytes, name: str) -> str:
    """Decode policy bytes as UTF-8, refusing binary data rather than guessing."""
    if b"\x00" in data[:8192]:
        raise ClausetagError(f"{name}: looks like a binary file, expected text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ClausetagError(
            f"{name}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "re-encode the file as UTF-8"
        ) from None
    return text


def read_text(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Read a whole text input with the size, binary, encoding and emptiness checks."""
    p = Path(path)
    _check_size(p, max_bytes)
    text = decode_text(p.read_bytes(), str(p))
    if not text.strip():
        raise ClausetagError(f"{p}: the file is empty")
    return text


def iter_jsonl(
    path: str | Path,
    required: tuple[str, ...] = ("text",),
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` from a JSON Lines file; blank lines are skipped.

    Every problem names the file and line, so a researcher can fix a 10 000-line
    file without bisecting it.
    """
    p = Path(path)
    _check_size(p, max_bytes)
    any_record = False
    with p.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = decode_text(raw, f"{p}:{lineno}").strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ClausetagError(f"{p}:{lineno}: malformed JSON ({exc.msg})") from None
            if not isinstance(rec, dict):
                raise ClausetagError(f"{p}:{lineno}: expected a JSON object per line")
            missing = [k for k in required if k not in rec]
            if missing:
                raise ClausetagError(f"{p}:{lineno}: missing field(s) {', '.join(missing)}")
            if "text" in required and not isinstance(rec["text"], str):
                raise ClausetagError(f"{p}:{lineno}: field 'text' must be a string")
            any_record = True
            yield lineno, rec
    if not any_record:
        raise ClausetagError(f"{p}: the file holds no records")
