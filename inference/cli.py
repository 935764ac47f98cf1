"""``clausetag predict`` and ``clausetag report``: batch tagging and the Art. 13 report.

Inputs are read and checked before the model loads, so bad input costs a second,
not a model load, and fails before anything is written. Output goes through
``atomic_writer``: a file is either complete or absent. ``--resume`` adds
periodic checkpoints, each one again a whole-file atomic replace. Planning,
chunking, tagging and loading the model are ``inference.batch``'s, which the Ray
engine (``inference.ray_run``) shares.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clausetag.errors import ClausetagError
from clausetag.inference.batch import Job, job_chunks, load_classifier, plan_jobs, tag_chunk
from clausetag.inference.classifier import ClauseClassifier, TaggedUnit
from clausetag.inference.formats import FORMATS, format_record, header, output_format, report_format
from clausetag.inference.readers import (
    STDIN,
    STDIN_FORMATS,
    Input,
    expand_inputs,
    read_inputs,
    same_file_key,
)
from clausetag.inference.report import RENDERERS, coverage
from clausetag.inference.resume import (
    Key,
    ResumableOutput,
    forget_fingerprint,
    jobs_prints,
    resume_state,
    save_fingerprint,
    settings_print,
)
from clausetag.io import (
    DEFAULT_MAX_BYTES,
    OutputTarget,
    atomic_writer,
    os_reason,
    output_lock,
    terminate_as_interrupt,
)
from clausetag.languages import LANGUAGES
from clausetag.options import add_backend, add_batch_size, add_output, positive_int, probability

# --------------------------------------------------------------------------- shared


def _add_common(parser: argparse.ArgumentParser) -> None:
    """Options ``predict`` and ``report`` share."""
    parser.add_argument("--model", required=True, help="model directory written by `clausetag train`")
    add_output(parser, "output file (default: stdout)")
    add_backend(parser)
    add_batch_size(parser)
    parser.add_argument(
        "--threshold", type=probability, help="one threshold for all labels (default: the model's own)"
    )
    parser.add_argument("--lang", choices=LANGUAGES, help="policy language (abbreviations, wording)")
    parser.add_argument(
        "--max-bytes",
        type=positive_int,
        default=DEFAULT_MAX_BYTES,
        help=f"largest input file accepted (default {DEFAULT_MAX_BYTES})",
    )
    parser.add_argument("--stdin-format", choices=STDIN_FORMATS, default="txt", help="what '-' (stdin) holds")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")


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


def _predict_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clausetag predict",
        description="Tag privacy policies (.txt/.md/.html, a folder of them, or '-' for stdin) "
        "or pre-split JSONL units (a 'text' field per line) with GDPR clause labels.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="file, directory, or '-'")
    _add_common(parser)
    parser.set_defaults(backend=None)  # each engine's own: torch here, onnx-int8 on Ray when exported
    parser.add_argument(
        "--format",
        choices=(*FORMATS, "parquet"),
        help="output format (default: from --output's suffix, else jsonl; parquet: --engine ray only)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip units already in --output and append the rest, checkpointing as it goes",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=positive_int,  # 0 would rewrite the whole file after every record: quadratic
        default=60,
        metavar="SECONDS",
        help="with --resume: save progress this often, in whole seconds (default 60)",
    )
    ray = parser.add_argument_group("Ray (pip install 'clausetag[ray]')")
    ray.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="ray: tag on a pool of Ray workers (--backend default: onnx-int8 when exported); "
        "-o is then a directory with one partition per input",
    )
    ray.add_argument("--address", help="with --engine ray: the cluster to join (HOST:PORT or auto)")
    ray.add_argument(
        "--workers", type=positive_int, metavar="N", help="with --engine ray: workers (default: CPUs / 2)"
    )
    return parser


def _tag_jobs(
    clf: ClauseClassifier,
    jobs: list[Job],
    args: argparse.Namespace,
    sink: Any,
    fmt: str,
    done: frozenset[Key] = frozenset(),
) -> None:
    """Tag in chunks (sorted by length inside each) and write records in input order.

    ``done``: units an earlier run wrote. A chunk of only those is skipped; one partly
    done is tagged whole (the batches of an uninterrupted run: int8 ONNX quantises
    per batch) and only its other records are written.
    """
    from tqdm.auto import tqdm

    left = sum(job.key not in done for job in jobs)
    with tqdm(total=left, desc="tagging", unit="unit", file=sys.stderr, disable=args.quiet) as bar:
        for part in job_chunks(jobs, args.batch_size):
            todo = [job.key not in done for job in part]
            if not any(todo):
                continue
            for wanted, record in zip(
                todo, tag_chunk(clf, part, args.batch_size, args.threshold), strict=True
            ):
                if wanted:
                    sink.write(format_record(record, fmt, clf.labels))
            bar.update(sum(todo))


def _run_resumable(
    clf: ClauseClassifier,
    items: Sequence[Input],
    jobs: list[Job],
    args: argparse.Namespace,
    fmt: str,
    path: Path,
) -> int:
    """``--resume``: check the earlier run is this one (``inference.resume``), then append what is left;
    returns how many units were already there."""
    settings = settings_print(
        clf.model_dir, clf.backend_name, args.threshold, fmt, args.lang, args.batch_size
    )
    fingerprint = {**settings, "inputs": jobs_prints(items, jobs)}
    done = resume_state(path, fmt, clf.labels, fingerprint, [j.key for j in jobs])
    if len(done.keys) == len(jobs):
        return len(done.keys)
    if not path.exists() or not path.stat().st_size:
        save_fingerprint(path, fingerprint)  # before the first record is written
    out = ResumableOutput(path, header(fmt, clf.labels), args.checkpoint_every, keep=done.keep)
    try:
        _tag_jobs(clf, jobs, args, out, fmt, frozenset(done.keys))
    finally:
        out.commit()  # finished units are whole records: keep them, even on Ctrl-C
    return len(done.keys)


class _StdoutSink:
    """``write`` to stdout with write errors as messages."""

    def write(self, text: str) -> None:
        _write_stdout(text)


def _write_all(
    clf: ClauseClassifier, jobs: list[Job], args: argparse.Namespace, fmt: str, target: OutputTarget | None
) -> None:
    first = header(fmt, clf.labels)
    if args.output is None:
        try:
            _write_stdout(first)
            _tag_jobs(clf, jobs, args, _StdoutSink(), fmt)
            _write_stdout("")
        except BrokenPipeError:  # `clausetag predict … | head`: the reader has all it wants
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    with atomic_writer(args.output) as fh:
        fh.write(first)
        _tag_jobs(clf, jobs, args, fh, fmt)
        if target is not None and not target.stream:
            forget_fingerprint(target.path)  # an earlier --resume run's: it no longer describes the file


def predict_main(argv: list[str]) -> int:
    """``clausetag predict``: one record per unit, written atomically."""
    args = _predict_parser().parse_args(argv)
    if args.engine == "ray":
        from clausetag.inference.ray_run import run_on_ray  # the Ray engine loads only for it

        return run_on_ray(args)
    _local_engine(args)
    if args.resume and not args.output:
        raise ClausetagError("--resume needs --output (the file to continue)")
    with terminate_as_interrupt(), output_lock(args.output) as target:
        if args.resume and target is not None and target.stream:
            raise ClausetagError(f"{args.output}: --resume needs a regular file as --output")
        return _predict(args, target)


def _local_engine(args: argparse.Namespace) -> None:
    """Refuse what only ``--engine ray`` takes; in one process ``--backend`` defaults to torch."""
    given = [flag for flag, value in (("--address", args.address), ("--workers", args.workers)) if value]
    if given:
        raise ClausetagError(f"{' and '.join(given)} go with --engine ray")
    if args.format == "parquet":
        raise ClausetagError("--format parquet is written by --engine ray (a directory of partitions)")
    args.backend = args.backend or "torch"


def _predict(args: argparse.Namespace, target: OutputTarget | None) -> int:
    """The run itself, with the output checked and locked."""
    fmt = output_format(args.format, args.output)
    inputs = expand_inputs(args.inputs)
    _refuse_overwriting_inputs(target, inputs)
    started = time.perf_counter()
    items = read_inputs(inputs, args.max_bytes, args.stdin_format)
    clf = load_classifier(args.model, args.backend)
    jobs = plan_jobs(items, args.lang)
    done = 0
    if args.resume:
        assert target is not None  # predict_main: --resume needs a regular file
        done = _run_resumable(clf, items, jobs, args, fmt, target.path)
        if done == len(jobs):
            _say(args, f"nothing to do: all {done} units are already in {args.output}")
            return 0
    else:
        _write_all(clf, jobs, args, fmt, target)
    where = args.output or "stdout"
    skipped = f", {done} already there" if done else ""
    took = time.perf_counter() - started
    _say(args, f"tagged {len(jobs) - done} units{skipped} → {where} in {took:.1f} s")
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
    parser.add_argument("--top", type=positive_int, default=3, help="evidence units per item (default 3)")
    return parser


def _report_units(clf: ClauseClassifier, item: Input, args: argparse.Namespace) -> list[TaggedUnit]:
    """The policy's tagged units: segmented from a document, or a JSONL's records as given."""
    units = item.units(args.lang)
    preds = clf.predict(
        [u.text for u in units], args.batch_size, args.threshold, contexts=[u.context for u in units]
    )
    return [
        TaggedUnit(
            text=p.text,
            labels=p.labels,
            scores=p.scores,
            index=u.unit,
            start=u.start or 0,
            end=u.end or 0,
            kind=u.kind or "sentence",
            section=list(u.context.section) if u.context else [],
        )
        for u, p in zip(units, preds, strict=True)
    ]


def _one_policy(policy: str, args: argparse.Namespace) -> Input:
    if Path(policy).is_dir():
        raise ClausetagError(f"{policy}: is a directory; report covers one policy (use predict for many)")
    (item,) = read_inputs([policy], args.max_bytes, args.stdin_format)
    if len(item.docs) > 1:
        raise ClausetagError(f"{policy}: holds {len(item.docs)} documents; report covers one policy")
    return item


def report_main(argv: list[str]) -> int:
    """``clausetag report``: the Art. 13 coverage of one policy as md, html or json."""
    args = _report_parser().parse_args(argv)
    with terminate_as_interrupt(), output_lock(args.output) as target:
        return _report(args, target)


def _report(args: argparse.Namespace, target: OutputTarget | None) -> int:
    fmt = report_format(args.format, args.output)
    _refuse_overwriting_inputs(target, [args.policy])
    item = _one_policy(args.policy, args)
    clf = load_classifier(args.model, args.backend)
    units = _report_units(clf, item, args)
    model = Path(os.path.realpath(args.model)).name
    report = coverage(units, clf.labels, item.docs[0], item.source, model, args.lang, args.top)
    text = RENDERERS[fmt](report)
    if args.output is None:
        _write_stdout(text)
    else:
        with atomic_writer(args.output) as fh:
            fh.write(text)
        _say(args, f"wrote {args.output}")
    return 0
