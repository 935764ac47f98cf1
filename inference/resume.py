"""``clausetag predict --resume``: what an earlier run wrote, and appending without a torn file."""

from __future__ import annotations

import csv
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from clausetag.errors import ClausetagError
from clausetag.inference.formats import csv_fields, csv_uncell
from clausetag.io import atomic_writer

#: A unit of a run: (doc, unit number within the doc).
Key = tuple[str, int]


def _done_keys_jsonl(path: Path, labels: Sequence[str]) -> set[Key]:
    done: set[Key] = set()
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                key = (str(rec["doc"]), int(rec["unit"]))
                names = set(rec["scores"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                raise ClausetagError(
                    f"{path}:{lineno}: cannot resume: not a `clausetag predict` JSONL record"
                ) from None
            if names != set(labels):
                raise ClausetagError(f"{path}:{lineno}: cannot resume: written by a model with other labels")
            done.add(key)
    return done


def _done_keys_csv(path: Path, labels: Sequence[str]) -> set[Key]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is not None and header != csv_fields(labels):
            raise ClausetagError(
                f"{path}: cannot resume: its CSV header is not this model's `clausetag predict` header"
            )
        try:
            return {(csv_uncell(row[0]), int(row[1])) for row in reader if row}
        except (IndexError, ValueError):
            raise ClausetagError(f"{path}:{reader.line_num}: cannot resume: malformed row") from None


def done_keys(path: Path, fmt: str, labels: Sequence[str]) -> set[Key]:
    """The (doc, unit) keys an earlier run wrote to ``path``; nothing if it does not exist."""
    if not path.exists():
        return set()
    try:
        reader = _done_keys_jsonl if fmt == "jsonl" else _done_keys_csv
        return reader(path, labels)
    except UnicodeDecodeError:
        raise ClausetagError(f"{path}: cannot resume: not UTF-8 text") from None


@dataclass
class ResumableOutput:
    """Appends by atomic replacement (old contents + new lines): never a torn file.

    A checkpoint copies the file, so checkpoints are spaced in time, not units.
    """

    path: Path
    header: str = ""
    every_s: float = 60.0
    pending: list[str] = field(default_factory=list)
    last: float = field(default_factory=time.monotonic)

    def write(self, line: str) -> None:
        self.pending.append(line)
        if time.monotonic() - self.last >= self.every_s:
            self.commit()

    def commit(self) -> None:
        if not self.pending:
            return
        with atomic_writer(self.path) as fh:
            if self.path.exists() and self.path.stat().st_size:
                with self.path.open(encoding="utf-8", newline="") as old:
                    shutil.copyfileobj(old, fh)
                if not self._ends_with_newline():
                    fh.write("\n")
            else:
                fh.write(self.header)
            fh.writelines(self.pending)
        self.pending = []
        self.last = time.monotonic()

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as fh:
            fh.seek(-1, 2)
            return fh.read(1) == b"\n"
