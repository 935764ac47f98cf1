"""Input reading and output writing shared by every command.

Both halves exist so that bad input fails with one clear message and that no
command ever leaves a half-written file behind (the brief's contract):

* every file the project opens (inputs, label lists, configs, model-folder
  files, an output being resumed) goes through one guarded reader
  (``read_bytes``/``read_text``/``read_json``): the size limit enforced *while
  reading* (``/dev/zero`` has a stat size of 0), a FIFO opened without blocking,
  ``regular=True`` refusing anything but a regular file (a model folder's
  ``config.json`` that links to ``/dev/zero``), one NUL-byte rule, UTF-16 with a
  byte-order mark decoded (and named when it has none), JSON's ``NaN`` refused,
  and every ``OSError`` turned into a ``ClausetagError`` naming the file;
  ``guard_file`` is the same check for files a library opens itself
  (safetensors, ONNX);
* outputs go to a temporary file renamed into place, except where the target
  is not a regular file (``/dev/null``, ``/dev/stdout``, a FIFO): those are
  written as a stream and never replaced; ``output_lock`` keeps a second run
  from writing the same file and clears temporary files a killed run left.
  ``atomic_path`` is the one primitive under it, also for writers that need a
  path (a folder from ``save_pretrained``, an ONNX file): the encoder build,
  the model-directory writer and ``export-onnx`` all use it. A file it replaces
  keeps its mode (a private 0600 output stays private), and it never replaces a
  file with a folder. ``human_bytes`` is the one wording of sizes in messages.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from clausetag.errors import ClausetagError

#: Larger single inputs are refused: a privacy policy is tens of kilobytes.
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
#: What a size refusal suggests; commands with a ``--max-bytes`` option pass their own hint.
SPLIT_HINT = "split it"
MAX_BYTES_HINT = "split it, or raise --max-bytes"
_CHUNK = 1 << 20
_MAX_SYMLINKS = 40
#: Paths under these are kernel objects (devices, /proc/self/fd/N): never renamed over.
_SPECIAL_ROOTS = ("/dev/", "/proc/", "/sys/")


def human_bytes(n: int) -> str:
    """Sizes in messages: "100 bytes" for a --max-bytes 100, not "0 MB"."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def os_reason(exc: OSError) -> str:
    """The readable part of an OSError ("Permission denied"), never its repr."""
    return exc.strerror or type(exc).__name__


def is_blank(text: str) -> bool:
    """True when nothing visible is left: whitespace, zero-width and other format characters only."""
    return all(ch.isspace() or unicodedata.category(ch) in ("Cf", "Cc") for ch in text)


# --------------------------------------------------------------------------- output targets


@dataclass(frozen=True)
class OutputTarget:
    """Where an output really goes: a regular file (``path`` with symlinks followed) or a stream."""

    given: str
    path: Path
    stream: bool


def _link_chain(path: Path) -> list[Path]:
    """``path`` and every symlink hop after it, as absolute paths (the last is not a link)."""
    hops = [Path(os.path.abspath(path))]
    for _ in range(_MAX_SYMLINKS):
        try:
            link = os.readlink(hops[-1])
        except OSError:
            return hops
        hops.append(Path(os.path.abspath(hops[-1].parent / link)))
    raise ClausetagError(f"{path}: too many levels of symbolic links (a symlink loop?)")


def check_file_name(name: str, what: str = "file") -> str:
    """A path clausetag can write into records, messages and JSON: valid UTF-8.

    Checked before any work: a name the operating system handed over as bytes
    that are not UTF-8 (Python keeps them as lone surrogates) would fail only when
    a record or a summary naming it is written, after the tagging.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        shown = name.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
        code = ord(name[exc.start])
        byte = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"
        raise ClausetagError(
            f"{shown}: the {what} name is not valid UTF-8 ({byte}); rename it to a UTF-8 name"
        ) from None
    return name


def check_folder_output(path: str | Path, writes: str) -> Path:
    """An output that is a folder: refuse an existing regular file (never replaced, never deleted)."""
    p = Path(path)
    check_file_name(str(p), "output")
    if p.exists() and not p.is_dir():
        raise ClausetagError(f"{p}: is a file; {writes} (choose another -o/--output)")
    return p


def _is_special(path: Path) -> bool:
    return str(path).startswith(_SPECIAL_ROOTS) or str(path) in ("/dev", "/proc", "/sys")


def _stat_output(given: str) -> os.stat_result | None:
    """``os.stat`` through every link (the kernel resolves ``/proc/self/fd/1``); None if absent."""
    try:
        return os.stat(given)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ClausetagError(f"{given}: too many levels of symbolic links (a symlink loop?)") from None
        raise ClausetagError(f"{given}: cannot use as output ({os_reason(exc)})") from None


def output_target(path: str | Path) -> OutputTarget:
    """Check an output path before any work and say where writing it will go.

    Refuses an empty path, a directory and a symlink loop. A device, a FIFO, or
    anything reached through a link in ``/dev`` or ``/proc`` (``/dev/stdout``)
    becomes a stream target; a regular file is replaced where its symlinks lead.
    """
    given = str(path)
    if not given.strip():
        raise ClausetagError("the output path is empty")
    check_file_name(given, "output")
    st = _stat_output(given)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise ClausetagError(f"{given}: is a directory; give a file name for the output")
    chain = _link_chain(Path(given))
    final = chain[-1]
    through_special = any(map(_is_special, chain[:-1])) or str(final).startswith(("/proc/", "/sys/"))
    if st is not None and (through_special or not stat.S_ISREG(st.st_mode)):
        return OutputTarget(given, Path(given), stream=True)
    if through_special:
        raise ClausetagError(f"{given}: no such device or file")
    if final.parent.exists() and not final.parent.is_dir():
        raise ClausetagError(f"{given}: {final.parent} is not a directory")
    return OutputTarget(given, final, stream=False)


def _write_error(target: OutputTarget, exc: OSError) -> ClausetagError:
    return ClausetagError(f"{target.given}: cannot write ({os_reason(exc)})")


#: Errors from writing the output file itself (not from whatever the caller's body does).
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO, errno.EPIPE})


@contextlib.contextmanager
def _stream_writer(target: OutputTarget, mode: str) -> Iterator[IO[Any]]:
    """A device or FIFO: written in place, as ``/dev/null`` must stay a device.

    Opened for appending: ``-o /dev/stdout`` after a shell's ``>>`` must not
    truncate what the shell's file already holds.
    """
    encoding = None if "b" in mode else "utf-8"
    try:
        with open(target.path, mode.replace("w", "a"), encoding=encoding) as fh:
            yield fh
    except OSError as exc:
        if exc.errno in _WRITE_ERRNOS or exc.filename in (None, str(target.path)):
            raise _write_error(target, exc) from None
        raise


def _give_mode(path: Path, final: Path, directory: bool) -> None:
    """The mode ``final`` has (a private 0600 output stays private), else what ``open``/``mkdir`` give.

    mkstemp/mkdtemp make private paths; a new output gets the umask's usual
    mode. The owner is kept too where the process may set it (root rewriting a
    user's file); elsewhere chown fails and the file is the writer's, as with ``open``.
    """
    try:
        st = os.stat(final)
    except OSError:
        st = None
    if st is None or stat.S_ISDIR(st.st_mode) != directory:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(path, (0o777 if directory else 0o666) & ~umask)
        return
    with contextlib.suppress(OSError):
        os.chown(path, st.st_uid, st.st_gid)
    os.chmod(path, stat.S_IMODE(st.st_mode))


def _replace_dir(tmp: Path, final: Path) -> None:
    """Rename folder ``tmp`` onto ``final``; an existing folder is moved aside first, then deleted.

    A regular file at ``final`` is never deleted to make room for a folder.
    """
    if final.is_symlink() or not final.exists():
        os.replace(tmp, final)
        return
    if not final.is_dir():
        raise ClausetagError(f"{final}: is a file, not a folder; it was left as it is")
    old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
    os.replace(final, old)  # onto an empty folder: allowed by rename(2)
    try:
        os.replace(tmp, final)
    except OSError:
        os.replace(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _discard(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


@contextlib.contextmanager
def atomic_path(final: str | Path, directory: bool = False, name: str | None = None) -> Iterator[Path]:
    """A temporary file (or, with ``directory``, folder) beside ``final``, renamed onto it on success.

    The one atomic-write primitive, for writers that need a path rather than a
    handle (``save_pretrained``, the ONNX exporter, a model directory). On any
    exception the temporary path is removed and ``final`` is left as it was, so
    a reader never sees a half-written file or folder. ``name``: how messages
    call the output (default: ``final``).
    """
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{final.name}."
        if directory:
            tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=final.parent))
        else:
            fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=final.parent)
            os.close(fd)
            tmp = Path(tmp_name)
    except OSError as exc:
        raise ClausetagError(f"{name or final}: cannot write ({os_reason(exc)})") from None
    try:
        yield tmp
        _give_mode(tmp, final, directory)
        if directory:
            _replace_dir(tmp, final)
        else:
            os.replace(tmp, final)
    finally:
        _discard(tmp)  # nothing left to remove after the rename


@contextlib.contextmanager
def atomic_writer(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Write to a temporary file beside ``path`` and rename it into place on success.

    On any exception the temporary file is removed and ``path`` is left as it was.
    A symlinked output keeps its link (the file it points to is replaced); a
    device or FIFO is written as a stream. Failing writes (disk full, read-only
    location) end as one ``ClausetagError`` naming the output.
    """
    target = output_target(path)
    if target.stream:
        with _stream_writer(target, mode) as fh:
            yield fh
        return
    tmp = ""
    try:
        with atomic_path(target.path, name=target.given) as staged:
            tmp = str(staged)
            with open(staged, mode, encoding=None if "b" in mode else "utf-8") as fh:
                yield fh
    except OSError as exc:
        if exc.errno in _WRITE_ERRNOS or (tmp and exc.filename == tmp):
            raise _write_error(target, exc) from None
        raise


def write_json(path: str | Path, obj: Any) -> None:
    """Pretty JSON, atomically: model-directory files are read by other tools."""
    with atomic_writer(path) as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=2)
        fh.write("\n")


# --------------------------------------------------------------------------- one writer per output


def _stale_temp_pattern(name: str) -> re.Pattern[str]:
    """``atomic_writer``'s temporary names for ``name`` (mkstemp adds 8 characters)."""
    return re.compile(rf"\.{re.escape(name)}\.[A-Za-z0-9_]{{8}}\.tmp")


def remove_stale_temps(target: Path) -> list[Path]:
    """Delete temporary files a killed run left beside ``target``; call only under ``output_lock``."""
    pattern = _stale_temp_pattern(target.name)
    removed = []
    with contextlib.suppress(OSError):
        for p in target.parent.iterdir():
            if pattern.fullmatch(p.name) and p.is_file():
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed.append(p)
    return removed


def _lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}.lock"


def _try_lock(lock: Path, given: str) -> int:
    """An exclusive ``flock`` on the lock file, or a ClausetagError saying who holds it."""
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ClausetagError(
                f"{given}: another clausetag run is writing this file; wait for it to finish "
                "or choose another --output"
            ) from None
        # The holder before us may have unlinked the file it locked: lock the one on disk.
        with contextlib.suppress(FileNotFoundError):
            if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                return fd
        os.close(fd)


@contextlib.contextmanager
def output_lock(path: str | Path | None) -> Iterator[OutputTarget | None]:
    """Hold an exclusive lock on an output for a whole run; ``None`` (stdout) locks nothing.

    Checks up front that the output location is usable (so a read-only folder
    fails before the tagging, not after), refuses a second writer, and removes
    temporary files left by a run that was killed.
    """
    if path is None:
        yield None
        return
    target = output_target(path)
    if target.stream:
        yield target
        return
    lock = _lock_path(target.path)
    try:
        target.path.parent.mkdir(parents=True, exist_ok=True)
        fd = _try_lock(lock, target.given)
    except OSError as exc:
        raise _write_error(target, exc) from None
    try:
        remove_stale_temps(target.path)
        yield target
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


# --------------------------------------------------------------------------- signals


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM (and SIGHUP) like Ctrl-C, so cleanup runs and no temporary file stays."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = [signal.SIGTERM, signal.SIGHUP]
    previous = {s: signal.signal(s, _raise_interrupt) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


# --------------------------------------------------------------------------- reading

#: What an ``os.stat`` mode is, in messages about files that are not regular.
_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")


def _refuse_too_large(name: str, size: int, max_bytes: int, hint: str) -> ClausetagError:
    have, limit = human_bytes(size), human_bytes(max_bytes)
    if have == limit:  # "21.0 MB is larger than the 21.0 MB limit" says nothing: give the bytes
        have, limit = f"{size:,} bytes", f"{max_bytes:,} bytes"
    return ClausetagError(f"{name}: {have} is larger than the {limit} limit for one input ({hint})")


def _kind_of_file(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _check_kind(name: str, st: os.stat_result, max_bytes: int, hint: str, regular: bool) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise ClausetagError(f"{name}: is a directory, expected a file")
    if regular and not stat.S_ISREG(st.st_mode):
        raise ClausetagError(f"{name}: is {_kind_of_file(st.st_mode)}, expected a regular file")
    if st.st_size > max_bytes:
        raise _refuse_too_large(name, st.st_size, max_bytes, hint)


def _stat_input(p: Path) -> os.stat_result:
    try:
        return p.stat()
    except FileNotFoundError:
        raise ClausetagError(f"{p}: no such file") from None
    except OSError as exc:
        raise ClausetagError(f"{p}: cannot read ({os_reason(exc)})") from None


def guard_file(path: str | Path, max_bytes: int, hint: str = SPLIT_HINT) -> int:
    """The reader's checks for a file a library opens by itself (safetensors, ONNX): it must be
    a regular file of at most ``max_bytes`` (never a device, a FIFO that would hang, a folder).
    Returns its size."""
    p = Path(path)
    st = _stat_input(p)
    _check_kind(str(p), st, max_bytes, hint, regular=True)
    return st.st_size


def _open_for_reading(p: Path, regular: bool) -> IO[bytes]:
    """Open without blocking on a FIFO nobody writes to (it then reads as empty).

    With ``regular``, the opened file itself is checked again (a name swapped
    for a device between the check and the open is still refused).
    """
    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if regular and not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ClausetagError(f"{p}: is {_kind_of_file(os.fstat(fd).st_mode)}, expected a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _looks_like_utf16(sample: bytes) -> bool:
    """NUL bytes on every other position only: UTF-16 text of mostly ASCII, without a byte-order mark."""
    even, odd = sample[0::2], sample[1::2]
    nuls = (even.count(0), odd.count(0))
    return len(sample) >= 4 and min(nuls) == 0 and max(nuls) >= len(sample) // 4


def _binary_error(name: str, sample: bytes) -> ClausetagError:
    if sample.startswith(_UTF32_BOMS):
        return ClausetagError(f"{name}: looks like UTF-32 text; convert it to UTF-8")
    if _looks_like_utf16(sample):
        return ClausetagError(
            f"{name}: looks like UTF-16 text without a byte-order mark; convert it to UTF-8"
        )
    return ClausetagError(f"{name}: looks like a binary file, expected text")


def read_limited(
    fh: IO[bytes], name: str, max_bytes: int, hint: str = SPLIT_HINT, binary: bool = False
) -> bytes:
    """At most ``max_bytes`` from a stream, in chunks: binary data and overlong input stop early.

    Text (``binary`` false) may hold no NUL byte, except UTF-16 with a byte-order mark
    (decoded by ``utf8_bytes``).
    """
    chunks: list[bytes] = []
    total = 0
    check_nul = not binary
    while True:
        chunk = fh.read(min(_CHUNK, max_bytes + 1 - total))
        if not chunk:
            return b"".join(chunks)
        if not chunks and chunk.startswith(_UTF16_BOMS) and not chunk.startswith(_UTF32_BOMS):
            check_nul = False  # UTF-16 has NUL bytes in every ASCII character
        if check_nul and b"\x00" in chunk:
            raise _binary_error(name, chunks[0] if chunks else chunk)
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            raise ClausetagError(
                f"{name}: more than the {human_bytes(max_bytes)} limit for one input ({hint})"
            )


def utf8_bytes(data: bytes, name: str) -> bytes:
    """Text bytes as UTF-8: UTF-16 with a byte-order mark is decoded, UTF-32 and NUL bytes refused."""
    if data.startswith(_UTF32_BOMS):
        raise _binary_error(name, data[:4096])
    if data.startswith(_UTF16_BOMS):
        try:
            return data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:
            raise ClausetagError(
                f"{name}: not valid UTF-16 (at byte {exc.start}); re-encode the file as UTF-8"
            ) from None
    if b"\x00" in data:
        raise _binary_error(name, data[:4096])
    return data


def read_bytes(
    path: str | Path,
    max_bytes: int = DEFAULT_MAX_BYTES,
    hint: str = SPLIT_HINT,
    *,
    regular: bool = False,
    binary: bool = False,
) -> bytes:
    """A whole file, its size limit enforced while reading; OS errors become messages.

    The one guarded reader. ``regular``: refuse anything but a regular file
    (model-folder files: a device or FIFO there is never read); inputs may be
    FIFOs and ``/dev/fd/N`` pipes. ``binary``: the bytes as they are; otherwise
    text, returned as UTF-8 (see ``utf8_bytes``).
    """
    p = Path(path)
    try:
        with open_guarded(p, max_bytes, hint, regular=regular) as fh:
            data = read_limited(fh, str(p), max_bytes, hint, binary)
    except OSError as exc:
        raise ClausetagError(f"{p}: cannot read ({os_reason(exc)})") from None
    return data if binary else utf8_bytes(data, str(p))


def open_guarded(
    path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, hint: str = SPLIT_HINT, *, regular: bool = False
) -> IO[bytes]:
    """The reader's checks, then the file open for reading in binary (for a reader that reads a part)."""
    p = Path(path)
    _check_kind(str(p), _stat_input(p), max_bytes, hint, regular)
    try:
        return _open_for_reading(p, regular)
    except OSError as exc:
        raise ClausetagError(f"{p}: cannot read ({os_reason(exc)})") from None


def decode_text(data: bytes, name: str) -> str:
    """Decode policy bytes as UTF-8 (or UTF-16 with a byte-order mark), refusing binary data."""
    data = utf8_bytes(data, name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ClausetagError(
            f"{name}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "re-encode the file as UTF-8"
        ) from None
    return text


def read_text(
    path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, hint: str = SPLIT_HINT, *, regular: bool = False
) -> str:
    """Read a whole text input with the size, kind, binary, encoding and emptiness checks.

    A file of only blanks and invisible characters (zero-width spaces) is empty.
    """
    p = Path(path)
    text = decode_text(read_bytes(p, max_bytes, hint, regular=regular), str(p))
    if is_blank(text):
        raise ClausetagError(f"{p}: the file is empty")
    return text


class _NotJson(ValueError):
    """``NaN``/``Infinity``: Python's json reads them, JSON has no such values."""


def _no_constants(name: str) -> Any:
    raise _NotJson(name)


#: How ``parse_json`` words its refusals: of a JSON Lines line, of a whole JSON file.
_JSON_WORDS = {
    "line": ("malformed JSON ({})", "JSON nested too deeply", "a number in this line is too long"),
    "file": (
        "not valid JSON ({})",
        "not valid JSON (nested too deeply)",
        "not valid JSON (a number too long)",
    ),
}


def parse_json(text: str, where: str, kind: str = "line") -> Any:
    """One JSON value; every problem (``NaN`` included) one message naming ``where``."""
    malformed, deep, long_number = _JSON_WORDS[kind]
    try:
        return json.loads(text, parse_constant=_no_constants)
    except _NotJson as exc:
        raise ClausetagError(f"{where}: {exc} is not valid JSON (write null or a number)") from None
    except json.JSONDecodeError as exc:
        detail = exc.msg if kind == "line" else f"{exc.msg} at line {exc.lineno}"
        raise ClausetagError(f"{where}: {malformed.format(detail)}") from None
    except RecursionError:
        raise ClausetagError(f"{where}: {deep}") from None
    except ValueError:  # e.g. integers over sys.get_int_max_str_digits()
        raise ClausetagError(f"{where}: {long_number}") from None


def read_json(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, *, regular: bool = True) -> Any:
    """A JSON file through the guarded reader (a regular file by default: configs, model files)."""
    text = read_text(path, max_bytes, "is this the right file?", regular=regular)
    return parse_json(text, str(path), "file")


# --------------------------------------------------------------------------- JSON Lines


def _bad_string(value: str) -> str | None:
    """Why a string read from JSON cannot be kept, or None: NUL or a lone surrogate."""
    if "\x00" in value:
        return "holds a NUL character (\\u0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"holds a lone surrogate (\\u{ord(value[exc.start]):04x}), not valid Unicode"
    return None


def check_strings(rec: Any, where: str) -> None:
    """Every string in a parsed JSON value (keys too) must be writable as UTF-8; walked without recursion."""
    stack = [rec]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack += list(value.keys()) + list(value.values())
        elif isinstance(value, list):
            stack += value
        elif isinstance(value, str):
            problem = _bad_string(value)
            if problem:
                raise ClausetagError(f"{where}: a string {problem}")


def _check_record(rec: Any, where: str, required: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(rec, dict):
        raise ClausetagError(f"{where}: expected a JSON object per line")
    missing = [k for k in required if k not in rec]
    if missing:
        raise ClausetagError(f"{where}: missing field(s) {', '.join(missing)}")
    if "text" in required and not isinstance(rec["text"], str):
        raise ClausetagError(f"{where}: field 'text' must be a string")
    for name in NAME_FIELDS:  # written back as text: 7 is "7", but [1] or true has no honest spelling
        value = rec.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
            raise ClausetagError(
                f"{where}: field {name!r} must be a string (or a whole number), not {json_type(value)}"
            )
    check_strings(rec, where)
    return rec


#: Record fields that name a unit and are written back as strings.
NAME_FIELDS = ("doc", "id")


def json_type(value: Any) -> str:
    """How JSON calls a parsed value's type, for messages."""
    if isinstance(value, bool):
        return "a boolean"
    kinds = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number"}
    return kinds.get(type(value), "null")


def iter_jsonl(
    path: str | Path,
    required: tuple[str, ...] = ("text",),
    max_bytes: int = DEFAULT_MAX_BYTES,
    hint: str = SPLIT_HINT,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` from a JSON Lines file; blank lines are skipped.

    Every problem names the file and line, so a researcher can fix a 10 000-line
    file without bisecting it. ``hint`` is what a size refusal suggests.
    """
    p = Path(path)
    yield from iter_jsonl_bytes(read_bytes(p, max_bytes, hint), str(p), required)


def iter_jsonl_bytes(
    data: bytes, name: str, required: tuple[str, ...] = ("text",)
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``iter_jsonl`` over bytes already read (a member of a zip file); messages name ``name``:line."""
    any_record = False
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        where = f"{name}:{lineno}"
        line = decode_text(raw, where).strip()
        if is_blank(line):  # blank, or only zero-width and other invisible characters
            continue
        rec = _check_record(parse_json(line, where), where, required)
        any_record = True
        yield lineno, rec
    if not any_record:
        raise ClausetagError(f"{name}: the file holds no records")
