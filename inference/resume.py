"""``clausetag predict --resume``: one fingerprint of a run, what an earlier run wrote, appending safely.

A resumed run must write exactly what one uninterrupted run would have, so:

* **one fingerprint** (``run_fingerprint``) says what the records depend on: the
  model's files (a digest of their contents), the backend, the thresholds in
  force, the output format, ``--lang`` and ``--batch-size``, and per input its
  size and a digest of its units (doc, number, text, span, kind and context).
  The local engine keeps it beside the output (``.NAME.resume.json``, written by
  every run that writes a file), ``--engine ray`` in ``_summary.json``; both
  refuse an earlier run whose fingerprint differs with the one message of
  ``check_same_run``;
* **torn rows are redone**: ``read_done`` keeps the complete records before a
  torn tail (a JSONL line or CSV row cut short, a quoted CSV cell never closed)
  and the next checkpoint drops the tail, so the unit is tagged again instead of
  being lost or swallowing later rows;
* **batches are cut the same way**: the caller plans every unit and skips whole
  chunks that are done; a chunk only partly done is tagged again whole and only
  its missing records are written (int8 ONNX quantises activations per batch, so
  a smaller chunk would give other scores).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from clausetag.errors import ClausetagError
from clausetag.inference.formats import csv_fields, csv_uncell
from clausetag.io import atomic_writer, open_guarded, read_json, write_json

#: A unit of a run: (doc, unit number within the doc).
Key = tuple[str, int]
FINGERPRINT_FORMAT = "clausetag-resume/1"
#: The output a run resumes is its own: any size is fine (read as a stream, never whole).
_OUTPUT_MAX_BYTES = 1 << 50
#: Model-directory files that decide the scores besides the backend's weights.
_MODEL_FILES = (
    "config.json",
    "thresholds.json",
    "tokenizer.json",
    "ngram/config.json",
    "ngram/weights.safetensors",
)
_BLOCK = 1 << 20


# --------------------------------------------------------------------------- the fingerprint


def _file_digest(path: Path, digest: Any) -> None:
    with open_guarded(path, _OUTPUT_MAX_BYTES, regular=True) as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)


def model_digest(model_dir: Path, weights: Path) -> str:
    """sha256 over the model files that decide its scores and the backend's weights file (a copied
    or moved model directory is the same model; a retrained one is not)."""
    digest = hashlib.sha256()
    for name in (*_MODEL_FILES, str(weights.relative_to(model_dir))):
        path = model_dir / name
        if path.is_file():
            digest.update(f"\0{name}\0".encode())
            _file_digest(path, digest)
    return digest.hexdigest()


def _jsonable(value: Any) -> Any:
    return (
        dataclasses.asdict(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type)
        else value
    )


def units_digest(units: Iterable[tuple[dict[str, Any], Any]]) -> str:
    """sha256 of an input's units as the run tags them: each record (doc, unit, id, span, kind,
    text) and the context it is read in."""
    digest = hashlib.sha256()
    for record, context in units:
        line = json.dumps([record, _jsonable(context)], ensure_ascii=False, sort_keys=True, default=str)
        digest.update(line.encode("utf-8", "surrogatepass") + b"\n")
    return digest.hexdigest()


def input_size(source: str, text: str | None = None) -> int:
    """An input's size in bytes: the file's, or (standard input) its text's in UTF-8."""
    try:
        return os.stat(source).st_size
    except (OSError, ValueError):
        return len((text or "").encode("utf-8", "surrogatepass"))


def input_print(source: str, size: int, units: Iterable[tuple[dict[str, Any], Any]]) -> dict[str, Any]:
    """One input's part of the fingerprint."""
    return {"input": source, "size": size, "units": units_digest(units)}


def run_fingerprint(
    *,
    model: str,
    backend: str,
    thresholds: Sequence[float],
    fmt: str,
    lang: str | None,
    batch_size: int,
    inputs: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Everything the records of a run depend on (``inputs``: one ``input_print`` each; Ray keeps
    them per partition instead)."""
    out: dict[str, Any] = {
        "format": FINGERPRINT_FORMAT,
        "settings": {
            "model": model,
            "backend": backend,
            "thresholds": [round(float(t), 6) for t in thresholds],
            "format": fmt,
            "lang": lang,
            "batch_size": int(batch_size),
        },
    }
    if inputs is not None:
        out["inputs"] = list(inputs)
    return out


#: How the refusal names a setting of the fingerprint.
_SETTING_NAMES = {
    "model": "model (its files)",
    "format": "output format",
    "lang": "--lang",
    "batch_size": "--batch-size",
}


def _names(inputs: Any) -> list[Any] | None:
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        return None
    return [i.get("input") for i in inputs]


def _differences(earlier: Any, now: dict[str, Any]) -> list[str]:
    """What differs between two fingerprints, in words ("model", "input a.txt (its content)")."""
    if not isinstance(earlier, dict) or earlier.get("format") != FINGERPRINT_FORMAT:
        return [
            "fingerprint (it has none readable: written by another version, copied without it, or damaged)"
        ]
    then, current = earlier.get("settings") or {}, now["settings"]
    if not isinstance(then, dict):
        then = {}
    changed = [_SETTING_NAMES.get(k, k) for k in current if then.get(k) != current[k]]
    if "inputs" in now:
        before = earlier.get("inputs") or []
        if _names(earlier.get("inputs")) != _names(now["inputs"]):
            changed.append("list of inputs")
        else:
            pairs = zip(now["inputs"], before, strict=True)
            changed += [f"input {i['input']} (its units)" for i, j in pairs if i != j]
    return changed


def check_same_run(where: str, earlier: Any, now: dict[str, Any], hint: str) -> None:
    """The one refusal of both engines: an earlier run of other settings or inputs is never continued."""
    changed = _differences(earlier, now)
    if changed:
        shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        raise ClausetagError(
            f"{where}: cannot resume: the earlier run differs in {shown}; its records would mix "
            f"with this run's ({hint})"
        )


def fingerprint_path(output: Path) -> Path:
    """Where the local engine keeps an output's fingerprint: ``.NAME.resume.json`` beside it."""
    return output.parent / f".{output.name}.resume.json"


def save_fingerprint(output: Path, fingerprint: dict[str, Any]) -> None:
    write_json(fingerprint_path(output), fingerprint)


def forget_fingerprint(output: Path) -> None:
    """Called just before an output is replaced: for a moment it has no fingerprint, never a wrong one."""
    try:
        fingerprint_path(output).unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ClausetagError(f"{fingerprint_path(output)}: cannot remove ({exc.strerror})") from None


def load_fingerprint(output: Path) -> Any:
    """The fingerprint beside ``output``, or None when there is none (or it cannot be read)."""
    path = fingerprint_path(output)
    if not path.exists():
        return None
    try:
        return read_json(path, 1 << 30)
    except ClausetagError:
        return None


# --------------------------------------------------------------------------- what was written


@dataclass
class Done:
    """What an earlier run wrote: the keys of complete records, and the bytes that hold them."""

    keys: list[Key] = field(default_factory=list)
    keep: int = 0  # bytes before a torn tail (the whole file when nothing is torn)
    torn: bool = False


def _lines(fh: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(offset, line) for each physical line, newline kept."""
    offset = 0
    for line in fh:
        yield offset, line
        offset += len(line)


def _with_last(lines: Iterator[tuple[int, bytes]]) -> Iterator[tuple[int, bytes, bool]]:
    """The lines with a flag for the last one (one line of lookahead, the file is never held whole)."""
    current = next(lines, None)
    while current is not None:
        following = next(lines, None)
        yield current[0], current[1], following is None
        current = following


def _done_jsonl(fh: IO[bytes], path: Path, labels: Sequence[str]) -> Done:
    done = Done()
    for lineno, (offset, raw, last) in enumerate(_with_last(_lines(fh)), start=1):
        if not raw.strip():
            done.keep = offset + len(raw)
            continue
        try:
            rec = json.loads(raw)
            key = (str(rec["doc"]), int(rec["unit"]))
            names = set(rec["scores"])
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
            if not last or raw.endswith(b"\n"):  # a whole line that is no record: not ours
                raise ClausetagError(
                    f"{path}:{lineno}: cannot resume: not a `clausetag predict` JSONL record"
                ) from None
            key = None
        if key is None or not raw.endswith(b"\n"):  # the last line, cut short: tagged again
            done.torn = True
            return done
        if names != set(labels):
            raise ClausetagError(f"{path}:{lineno}: cannot resume: written by a model with other labels")
        done.keys.append(key)
        done.keep = offset + len(raw)
    return done


class _Feed:
    """Decoded lines for ``csv.reader``, remembering how many bytes it has taken."""

    def __init__(self, lines: Iterator[tuple[int, bytes]]) -> None:
        self.lines = lines
        self.end = 0
        self.last_newline = True

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        offset, raw = next(self.lines)
        self.end = offset + len(raw)
        self.last_newline = raw.endswith(b"\n")
        return raw.decode("utf-8")


#: Cells of a CSV row before its scores (``csv_fields``).
_CSV_FIXED = 8


def _csv_key(row: list[str], width: int) -> Key:
    """A complete row's key; ValueError for a row cut short or malformed."""
    if len(row) != width:
        raise ValueError("wrong number of cells")
    for cell in row[_CSV_FIXED:]:  # every score is a number
        float(cell)
    return csv_uncell(row[0]), int(row[1])


def _done_csv(fh: IO[bytes], path: Path, labels: Sequence[str]) -> Done:
    done = Done()
    feed = _Feed(_lines(fh))
    reader = csv.reader(feed, strict=True)
    expected = csv_fields(labels)
    try:
        header = next(reader, None)
    except csv.Error:
        header = None
        feed.last_newline = False
    if header is None and feed.last_newline:
        return done  # an empty file
    if not feed.last_newline:  # the header itself cut short: nothing written yet
        done.torn = True
        return done
    if header != expected:
        raise ClausetagError(
            f"{path}: cannot resume: its CSV header is not this model's `clausetag predict` header"
        )
    done.keep = feed.end
    while True:
        start_line = reader.line_num
        try:
            row = next(reader)
        except StopIteration:
            return done
        except (csv.Error, UnicodeDecodeError):
            row = None
        try:
            key = _csv_key(row, len(expected)) if row is not None and feed.last_newline else None
        except (ValueError, IndexError):
            key = None
        if key is None:
            if next(feed, None) is not None:  # more rows follow: damage, not a torn tail
                raise ClausetagError(f"{path}:{start_line + 1}: cannot resume: malformed row")
            done.torn = True
            return done
        done.keys.append(key)
        done.keep = feed.end


def read_done(path: Path, fmt: str, labels: Sequence[str]) -> Done:
    """The complete records an earlier run wrote to ``path`` (nothing if it does not exist)."""
    if not path.exists():
        return Done()
    try:
        with open_guarded(path, _OUTPUT_MAX_BYTES, regular=True) as fh:
            return (_done_jsonl if fmt == "jsonl" else _done_csv)(fh, path, labels)
    except UnicodeDecodeError:
        raise ClausetagError(f"{path}: cannot resume: not UTF-8 text") from None


def done_keys(path: Path, fmt: str, labels: Sequence[str]) -> set[Key]:
    """The (doc, unit) keys of the complete records in ``path``."""
    return set(read_done(path, fmt, labels).keys)


def resume_state(
    path: Path, fmt: str, labels: Sequence[str], fingerprint: dict[str, Any], planned: Iterable[Key]
) -> Done:
    """What ``--resume`` continues: the earlier records, checked to be this very run's.

    An output with records but no fingerprint (written by an older clausetag, or
    copied without it) or another fingerprint is refused; so is a record of a
    unit this run does not have. A missing or empty output starts afresh.
    """
    done = read_done(path, fmt, labels)
    if not path.exists() or path.stat().st_size == 0:
        return done
    check_same_run(
        str(path),
        load_fingerprint(path),
        fingerprint,
        "run without --resume to replace it, or write elsewhere",
    )
    unknown = set(done.keys) - set(planned)
    if unknown:
        doc, unit = sorted(unknown)[0]
        raise ClausetagError(
            f"{path}: cannot resume: it holds unit {unit} of {doc!r}, which this run does not have"
        )
    return done


@dataclass
class ResumableOutput:
    """Appends by atomic replacement (the earlier complete records + new lines): never a torn file.

    ``keep``: how many bytes of the existing file to carry over (a torn tail beyond
    them is dropped). A checkpoint copies the file, so checkpoints are spaced in
    time, not units.
    """

    path: Path
    header: str = ""
    every_s: float = 60.0
    keep: int | None = None
    pending: list[str] = field(default_factory=list)
    last: float = field(default_factory=time.monotonic)

    def write(self, line: str) -> None:
        self.pending.append(line)
        if time.monotonic() - self.last >= self.every_s:
            self.commit()

    def commit(self) -> None:
        if not self.pending:
            return
        with atomic_writer(self.path, "wb") as fh:
            if not self._carry_over(fh):
                fh.write(self.header.encode("utf-8"))
            fh.write("".join(self.pending).encode("utf-8"))
        self.pending = []
        self.keep = None  # from now on the whole file is ours
        self.last = time.monotonic()

    def _carry_over(self, out: IO[bytes]) -> int:
        """Copy the earlier records; how many bytes were copied."""
        if not self.path.exists():
            return 0
        left = self.keep
        copied = 0
        with open_guarded(self.path, _OUTPUT_MAX_BYTES, regular=True) as old:
            while left is None or left > 0:
                block = old.read(_BLOCK if left is None else min(_BLOCK, left))
                if not block:
                    break
                out.write(block)
                copied += len(block)
                left = None if left is None else left - len(block)
        return copied


# --------------------------------------------------------------------------- a run's fingerprint


def weights_file(model_dir: Any, backend: str) -> Path:
    """The file the backend reads its weights from (``model_dir``: a ``ModelDir``)."""
    return model_dir.path / "model.safetensors" if backend == "torch" else model_dir.onnx_file(backend)


def settings_print(
    model_dir: Any, backend: str, threshold: float | None, fmt: str, lang: str | None, batch_size: int
) -> dict[str, Any]:
    """The fingerprint of a run's settings (no inputs): what both engines compare first."""
    thresholds = model_dir.thresholds if threshold is None else [threshold] * len(model_dir.labels)
    return run_fingerprint(
        model=model_digest(model_dir.path, weights_file(model_dir, backend)),
        backend=backend,
        thresholds=thresholds,
        fmt=fmt,
        lang=lang,
        batch_size=batch_size,
    )


def jobs_prints(items: Sequence[Any], jobs: Sequence[Any]) -> list[dict[str, Any]]:
    """Per input (``readers.Input``) its size and the digest of its planned units (``batch.Job``)."""
    per_item: list[list[tuple[dict[str, Any], Any]]] = [[] for _ in items]
    for job in jobs:
        per_item[job.item].append((job.record, job.context))
    return [
        input_print(
            item.source,
            input_size(item.source, item.document.text if item.document is not None else None),
            units,
        )
        for item, units in zip(items, per_item, strict=True)
    ]
