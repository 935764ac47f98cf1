"""``clausetag predict`` and ``clausetag report``: batch tagging and the Art. 13 report.

Inputs are read and checked before the model loads, so bad input costs a second,
not a model load, and fails before anything is written. Output goes through
``atomic_writer``: a file is either complete or absent. ``--resume`` adds
periodic checkpoints, each one again a whole-file atomic replace.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clausetag.errors import ClausetagError
from clausetag.inference.backends import BACKENDS
from clausetag.inference.classifier import ClauseClassifier, TaggedUnit
from clausetag.inference.readers import (
    STDIN,
    STDIN_FORMATS,
    Document,
    Input,
    Unit,
    expand_inputs,
    read_inputs,
    same_file_key,
)
from clausetag.inference.report import RENDERERS, coverage
from clausetag.inference.segment import segment
from clausetag.io import (
    DEFAULT_MAX_BYTES,
    OutputTarget,
    atomic_writer,
    os_reason,
    output_lock,
    terminate_as_interrupt,
)

FORMATS = ("jsonl", "csv")
Key = tuple[str, int]


# --------------------------------------------------------------------------- shared


def _positive_int(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def _probability(value: str) -> float:
    x = float(value)
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], not {x}")
    return x


def _add_common(parser: argparse.ArgumentParser) -> None:
    """Options ``predict`` and ``report`` share."""
    parser.add_argument("--model", required=True, help="model directory written by `clausetag train`")
    parser.add_argument("--output", "-o", help="output file (default: stdout)")
    parser.add_argument("--backend", choices=BACKENDS, default="torch", help="inference runtime")
    parser.add_argument("--batch-size", type=_positive_int, default=32, help="units per forward pass")
    parser.add_argument(
        "--threshold", type=_probability, help="one threshold for all labels (default: the model's own)"
    )
    parser.add_argument("--lang", choices=("en", "lv"), help="policy language (abbreviations, wording)")
    parser.add_argument(
        "--max-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_BYTES,
        help=f"largest input file accepted (default {DEFAULT_MAX_BYTES})",
    )
    parser.add_argument("--stdin-format", choices=STDIN_FORMATS, default="txt", help="what '-' (stdin) holds")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")


def load_classifier(model: str, backend: str) -> ClauseClassifier:
    """Any failure to load model files becomes one message naming the directory."""
    if backend == "torch":
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # ours is the progress bar; theirs is per weight file
    else:
        _no_onnx_telemetry()
    try:
        return ClauseClassifier.from_pretrained(model, backend=backend)
    except (ClausetagError, ImportError):
        raise
    except Exception as exc:  # corrupt safetensors/onnx files raise library-specific types
        reason = " ".join(str(exc).split())  # one line, however long the library's message
        raise ClausetagError(f"{model}: cannot load the model ({type(exc).__name__}: {reason})") from None


def _no_onnx_telemetry() -> None:
    """onnxruntime may record telemetry events (under ~/.cache): a tagging run sends nothing."""
    with contextlib.suppress(ImportError):
        import onnxruntime

        onnxruntime.disable_telemetry_events()


def _refuse_overwriting_inputs(target: OutputTarget | None, inputs: Sequence[str]) -> None:
    if target is None or target.stream:
        return
    out = same_file_key(str(target.path))
    if any(name != STDIN and same_file_key(name) == out for name in inputs):
        raise ClausetagError(f"{target.given}: the output would overwrite an input")


def _write_stdout(text: str) -> None:
    """Write to stdout; a full disk or closed terminal becomes one message."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise ClausetagError(f"cannot write to standard output ({os_reason(exc)})") from None


# --------------------------------------------------------------------------- predict


@dataclass
class Job:
    """One unit to tag: its record fields without labels and scores."""

    key: Key
    record: dict[str, Any]


def _document_jobs(doc: Document, lang: str | None) -> Iterator[Job]:
    for i, seg in enumerate(segment(doc.text, lang=lang)):
        yield Job(
            (doc.doc, i),
            {
                "doc": doc.doc,
                "unit": i,
                "start": seg.start,
                "end": seg.end,
                "kind": seg.kind,
                "text": seg.text,
            },
        )


def _unit_job(unit: Unit) -> Job:
    record: dict[str, Any] = {"doc": unit.doc, "unit": unit.unit}
    if unit.id is not None:
        record["id"] = unit.id
    record["text"] = unit.text
    return Job((unit.doc, unit.unit), record)


def plan_jobs(items: Sequence[Input], lang: str | None, done: set[Key]) -> list[Job]:
    """Every unit of every input in order, minus those an earlier run already wrote."""
    jobs: list[Job] = []
    for item in items:
        batch = _document_jobs(item, lang) if isinstance(item, Document) else map(_unit_job, item)
        jobs += [job for job in batch if job.key not in done]
    return jobs


#: Cell starts a spreadsheet reads as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula gets a leading ``'`` (OWASP).

    Cells that already start with quotes before such a character get one more,
    so ``csv_uncell`` gives back exactly the original text.
    """
    if isinstance(value, str) and value.lstrip("'").startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_uncell(value: str) -> str:
    """The inverse of ``csv_cell``."""
    if value.startswith("'") and value.lstrip("'").startswith(_FORMULA_START):
        return value[1:]
    return value


def csv_fields(labels: Sequence[str]) -> list[str]:
    return ["doc", "unit", "id", "start", "end", "kind", "text", "labels", *(f"score_{x}" for x in labels)]


def format_record(record: dict[str, Any], fmt: str, labels: Sequence[str]) -> str:
    """One output line (JSONL) or row (CSV, labels joined by ';')."""
    if fmt == "jsonl":
        return json.dumps(record, ensure_ascii=False) + "\n"
    row = {k: record.get(k, "") for k in ("doc", "unit", "id", "start", "end", "kind", "text")}
    row["labels"] = ";".join(record["labels"])
    row.update({f"score_{x}": record["scores"][x] for x in labels})
    return _csv_line([csv_cell(row[k]) for k in csv_fields(labels)])


def _csv_line(values: Sequence[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


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


def _predict_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clausetag predict",
        description="Tag privacy policies (.txt/.md/.html, a folder of them, or '-' for stdin) "
        "or pre-split JSONL units (a 'text' field per line) with GDPR clause labels.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="file, directory, or '-'")
    _add_common(parser)
    parser.add_argument(
        "--format", choices=FORMATS, help="output format (default: from --output's suffix, else jsonl)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip units already in --output and append the rest, checkpointing as it goes",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="with --resume: save progress this often (default 60)",
    )
    return parser


def _output_format(fmt: str | None, output: str | None) -> str:
    if fmt:
        return fmt
    return "csv" if output and Path(output).suffix.lower() == ".csv" else "jsonl"


def _tag_jobs(clf: ClauseClassifier, jobs: list[Job], args: argparse.Namespace, sink: Any, fmt: str) -> None:
    """Tag in chunks (sorted by length inside each) and write records in input order."""
    from tqdm.auto import tqdm

    chunk = max(args.batch_size * 8, 256)
    with tqdm(total=len(jobs), desc="tagging", unit="unit", file=sys.stderr, disable=args.quiet) as bar:
        for lo in range(0, len(jobs), chunk):
            part = jobs[lo : lo + chunk]
            preds = clf.predict([j.record["text"] for j in part], args.batch_size, args.threshold)
            for job, pred in zip(part, preds, strict=True):
                record = {**job.record, "labels": pred.labels, "scores": pred.scores}
                sink.write(format_record(record, fmt, clf.labels))
            bar.update(len(part))


def _run_resumable(clf: ClauseClassifier, jobs: list[Job], args: argparse.Namespace, fmt: str) -> None:
    header = _csv_line(csv_fields(clf.labels)) if fmt == "csv" else ""
    out = ResumableOutput(Path(args.output), header, args.checkpoint_every)
    try:
        _tag_jobs(clf, jobs, args, out, fmt)
    finally:
        out.commit()  # finished units are whole records: keep them, even on Ctrl-C


class _StdoutSink:
    """``write`` to stdout with write errors as messages."""

    def write(self, text: str) -> None:
        _write_stdout(text)


def _write_all(clf: ClauseClassifier, jobs: list[Job], args: argparse.Namespace, fmt: str) -> None:
    header = _csv_line(csv_fields(clf.labels)) if fmt == "csv" else ""
    if args.output is None:
        try:
            _write_stdout(header)
            _tag_jobs(clf, jobs, args, _StdoutSink(), fmt)
            _write_stdout("")
        except BrokenPipeError:  # `clausetag predict … | head`: the reader has all it wants
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    with atomic_writer(args.output) as fh:
        fh.write(header)
        _tag_jobs(clf, jobs, args, fh, fmt)


def predict_main(argv: list[str]) -> int:
    """``clausetag predict``: one record per unit, written atomically."""
    args = _predict_parser().parse_args(argv)
    if args.resume and not args.output:
        raise ClausetagError("--resume needs --output (the file to continue)")
    with terminate_as_interrupt(), output_lock(args.output) as target:
        if args.resume and target is not None and target.stream:
            raise ClausetagError(f"{args.output}: --resume needs a regular file as --output")
        return _predict(args, target)


def _predict(args: argparse.Namespace, target: OutputTarget | None) -> int:
    """The run itself, with the output checked and locked."""
    fmt = _output_format(args.format, args.output)
    inputs = expand_inputs(args.inputs)
    _refuse_overwriting_inputs(target, inputs)
    started = time.perf_counter()
    items = read_inputs(inputs, args.max_bytes, args.stdin_format)
    clf = load_classifier(args.model, args.backend)
    done = done_keys(Path(args.output), fmt, clf.labels) if args.resume else set()
    jobs = plan_jobs(items, args.lang, done)
    if args.resume and not jobs:
        _say(args, f"nothing to do: all {len(done)} units are already in {args.output}")
        return 0
    if args.resume:
        _run_resumable(clf, jobs, args, fmt)
    else:
        _write_all(clf, jobs, args, fmt)
    where = args.output or "stdout"
    skipped = f", {len(done)} already there" if done else ""
    _say(args, f"tagged {len(jobs)} units{skipped} → {where} in {time.perf_counter() - started:.1f} s")
    return 0


def _say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr)


# --------------------------------------------------------------------------- report


def _report_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clausetag report",
        description="GDPR Art. 13 coverage of one policy: each information item present or "
        "missing, with the best evidence units and their scores.",
    )
    parser.add_argument("policy", metavar="POLICY", help="a .txt/.md/.html policy, a one-doc JSONL, or '-'")
    _add_common(parser)
    parser.add_argument("--format", choices=tuple(RENDERERS), help="default: from --output, else md")
    parser.add_argument("--top", type=_positive_int, default=3, help="evidence units per item (default 3)")
    return parser


def _report_units(clf: ClauseClassifier, item: Input, args: argparse.Namespace) -> list[TaggedUnit]:
    """The policy's tagged units: segmented from a document, or a JSONL's records as given."""
    if isinstance(item, Document):
        return clf.tag_document(item.text, args.lang, args.batch_size, args.threshold)
    preds = clf.predict([u.text for u in item], args.batch_size, args.threshold)
    return [
        TaggedUnit(text=p.text, labels=p.labels, scores=p.scores, index=u.unit)
        for u, p in zip(item, preds, strict=True)
    ]


def _one_policy(policy: str, args: argparse.Namespace) -> Input:
    if Path(policy).is_dir():
        raise ClausetagError(f"{policy}: is a directory; report covers one policy (use predict for many)")
    (item,) = read_inputs([policy], args.max_bytes, args.stdin_format)
    if isinstance(item, list) and len({u.doc for u in item}) > 1:
        raise ClausetagError(
            f"{policy}: holds {len({u.doc for u in item})} documents; report covers one policy"
        )
    return item


def _report_format(fmt: str | None, output: str | None) -> str:
    if fmt:
        return fmt
    suffix = Path(output).suffix.lower() if output else ""
    return {".html": "html", ".htm": "html", ".json": "json"}.get(suffix, "md")


def report_main(argv: list[str]) -> int:
    """``clausetag report``: the Art. 13 coverage of one policy as md, html or json."""
    args = _report_parser().parse_args(argv)
    with terminate_as_interrupt(), output_lock(args.output) as target:
        return _report(args, target)


def _report(args: argparse.Namespace, target: OutputTarget | None) -> int:
    fmt = _report_format(args.format, args.output)
    _refuse_overwriting_inputs(target, [args.policy])
    item = _one_policy(args.policy, args)
    clf = load_classifier(args.model, args.backend)
    units = _report_units(clf, item, args)
    doc = item.doc if isinstance(item, Document) else item[0].doc
    source = item.source if isinstance(item, Document) else args.policy
    model = Path(os.path.realpath(args.model)).name
    report = coverage(units, clf.labels, doc, source, model, args.lang, args.top)
    text = RENDERERS[fmt](report)
    if args.output is None:
        _write_stdout(text)
    else:
        with atomic_writer(args.output) as fh:
            fh.write(text)
        _say(args, f"wrote {args.output}")
    return 0
