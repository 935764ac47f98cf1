"""``clausetag data import labelstudio|doccano|argilla``: corrected annotations as corpus units.

The second half of the annotation loop (the first is ``clausetag annotate export``,
in ``clausetag.inference.annotate``). Each tool's own export is read:

- Label Studio: the project's JSON export (a list of tasks, each with ``data`` and
  ``annotations``; cancelled, i.e. skipped, annotations are left out);
- doccano: its text-classification JSONL export (``text``, ``label``, metadata at the top
  level); a ``.zip`` of one ``USER.jsonl`` per annotator, as doccano exports a project
  without collaborative annotation, or a folder of such files. A record with an empty
  ``label`` list is a unit that annotator did not label;
- Argilla: records as its SDK writes them (``dataset.records.to_json``: a list of
  ``Record.to_dict``), or the folder ``Dataset.to_disk`` writes (``records.json`` inside), or
  the flattened records (``dataset.records.to_list(flatten=True)`` saved as JSON). Only
  submitted responses count: the flattened form keeps each response's status, so drafts and
  discarded responses are left out; ``to_dict`` drops the status, so there every response
  counts (export with ``status="completed"`` records, or flattened, to leave drafts out).

A unit annotated more than once (by several people, or twice by one) takes the latest
annotation: by ``updated_at`` in Label Studio, by position in doccano (files in order,
a zip's members by date, lines in order) and Argilla (responses in order). Where several
annotators labelled a unit, their agreement is reported (``agreement``): the share of
units on which all agree, the mean pairwise Jaccard overlap and Krippendorff's alpha per
label. The units are checked with the corpus's own validator before anything is written.
"""

from __future__ import annotations

import argparse
import logging
import os
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from clausetag.data.agreement import agreement, agreement_lines
from clausetag.data.corpus import CorpusUnit, check_units, write_units
from clausetag.errors import ClausetagError
from clausetag.io import (
    DEFAULT_MAX_BYTES,
    guard_file,
    iter_jsonl_bytes,
    json_type,
    os_reason,
    output_target,
    read_bytes,
    read_json,
)
from clausetag.labels import resolve_label_set

logger = logging.getLogger(__name__)

TOOLS = ("labelstudio", "doccano", "argilla")
SOURCE = "annotated"
#: An annotation tool's export of a large project is larger than one policy.
MAX_EXPORT_BYTES = 20 * DEFAULT_MAX_BYTES
#: ``annotate export`` writes a unit's section path joined by this (``inference.annotate``).
SECTION_SEPARATOR = " › "
#: The name of the labels question in the configs ``annotate export`` writes.
QUESTION = "labels"
HINT = "fix the record in the annotation tool and export again; nothing was written"


@dataclass
class Annotation:
    """One person's labels for one unit; ``order`` sorts it among the unit's others (latest last)."""

    labels: list[Any]
    annotator: str
    order: tuple[Any, ...]
    where: str


@dataclass
class Task:
    """One unit as the tool holds it: its data (text, doc, unit, lang, kind, section) and annotations."""

    key: str
    data: dict[str, Any]
    where: str
    annotations: list[Annotation] = field(default_factory=list)
    left_out: int = 0  # cancelled, discarded or draft annotations


@dataclass
class Imported:
    """What an import gives: the units, and what it counted on the way."""

    units: list[CorpusUnit]
    tasks: int
    unannotated: int
    left_out: int
    overruled: int  # units whose annotators disagreed, settled by the latest annotation
    agreement: dict[str, Any] | None
    warnings: list[str]


# --------------------------------------------------------------------------- small checks


def _object(value: Any, where: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ClausetagError(f"{where}: {what} must be an object, not {json_type(value)}")
    return value


def _label_list(value: Any, where: str) -> list[Any]:
    """A list of label names (a single name becomes a list of one)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ClausetagError(f"{where}: the labels must be a list of label names, not {json_type(value)}")
    return value


def _annotator(value: Any) -> str:
    """Who annotated: a user id, an e-mail, or a Label Studio user object."""
    if isinstance(value, dict):
        value = value.get("email") or value.get("username") or value.get("id")
    return "unknown" if value in (None, "") else str(value)


# --------------------------------------------------------------------------- Label Studio


def _labelstudio_choices(annotation: dict[str, Any], where: str) -> list[Any]:
    result = annotation.get("result") or []
    if not isinstance(result, list):
        raise ClausetagError(f"{where}: 'result' must be a list, not {json_type(result)}")
    chosen: list[Any] = []
    for region in result:
        region = _object(region, where, "a result")
        if region.get("type") != "choices":
            continue
        value = _object(region.get("value"), where, "a choices result's 'value'")
        chosen += _label_list(value.get("choices", []), where)
    return chosen


def read_labelstudio(path: Path) -> list[Task]:
    """A Label Studio JSON export: a list of tasks (``data`` + ``annotations``)."""
    raw = read_json(path, MAX_EXPORT_BYTES)
    if isinstance(raw, dict) and "data" not in raw:
        keys = ", ".join(map(repr, list(raw)[:3])) or "no keys"
        raise ClausetagError(
            f"{path}: expected a list of Label Studio tasks, not an object with {keys}: "
            "export the project as JSON and import that file"
        )
    items = raw if isinstance(raw, list) else [raw]
    tasks = []
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("data"), dict):
            raise ClausetagError(
                f"{path}: task {n} has no 'data' object: export the project as JSON "
                "(not JSON_MIN or CSV) and import that file"
            )
        tid = item.get("id", n)
        where = f"{path}: task {tid}"
        data = item["data"]
        task = Task(str(data.get("id") or f"labelstudio-{tid}"), data, f"{where} ({data.get('id', '-')})")
        annotations = item.get("annotations") or []
        if not isinstance(annotations, list):
            raise ClausetagError(f"{where}: 'annotations' must be a list, not {json_type(annotations)}")
        for a in annotations:
            a = _object(a, where, "an annotation")
            a_where = f"{task.where}, annotation {a.get('id', '?')}"
            if a.get("was_cancelled"):
                task.left_out += 1
                continue
            when = str(a.get("updated_at") or a.get("created_at") or "")
            order = (when, a.get("id") if isinstance(a.get("id"), int) else 0)
            labels = _labelstudio_choices(a, a_where)
            task.annotations.append(Annotation(labels, _annotator(a.get("completed_by")), order, a_where))
        tasks.append(task)
    return tasks


# --------------------------------------------------------------------------- doccano


def _doccano_members(path: Path) -> Iterator[tuple[str, str, bytes]]:
    """``(name for messages, annotator, bytes)`` of each JSONL of a doccano export, latest last."""
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"), key=lambda p: (p.stat().st_mtime, p.name))
        if not files:
            raise ClausetagError(f"{path}: no .jsonl files in this folder (a doccano JSONL export)")
        for f in files:
            yield str(f), f.stem, read_bytes(f, MAX_EXPORT_BYTES)
        return
    if path.suffix.lower() != ".zip":
        yield str(path), path.stem, read_bytes(path, MAX_EXPORT_BYTES)
        return
    guard_file(path, MAX_EXPORT_BYTES)
    try:
        with zipfile.ZipFile(path) as zf:
            members = sorted(
                (m for m in zf.infolist() if m.filename.endswith(".jsonl") and not m.is_dir()),
                key=lambda m: (m.date_time, m.filename),
            )
            if not members:
                raise ClausetagError(f"{path}: the zip holds no .jsonl file (a doccano JSONL export)")
            total = 0
            for m in members:
                total += m.file_size
                if total > MAX_EXPORT_BYTES:
                    raise ClausetagError(f"{path}: more than {MAX_EXPORT_BYTES:,} bytes unpacked")
                yield f"{path}:{m.filename}", Path(m.filename).stem, zf.read(m)
    except (zipfile.BadZipFile, OSError) as exc:
        reason = os_reason(exc) if isinstance(exc, OSError) else str(exc)
        raise ClausetagError(f"{path}: cannot read the zip file ({reason})") from None


def read_doccano(path: Path) -> list[Task]:
    """doccano's text-classification JSONL export (a file, a zip of per-user files, or a folder)."""
    tasks: dict[str, Task] = {}
    for position, (name, annotator, data) in enumerate(_doccano_members(path)):
        for lineno, rec in iter_jsonl_bytes(data, name, required=("text",)):
            where = f"{name}:{lineno}"
            column = "label" if "label" in rec else "labels" if "labels" in rec else None
            if column is None:
                raise ClausetagError(f"{where}: no 'label' list (doccano's text-classification export)")
            key = rec.get("unit_id") or f"{path.stem}:{rec.get('id', lineno)}"
            task = tasks.setdefault(str(key), Task(str(key), rec, where))
            labels = _label_list(rec[column], where)
            if labels:
                who = str(rec.get("annotator") or annotator)
                task.annotations.append(Annotation(labels, who, (position, lineno), where))
    return list(tasks.values())


# --------------------------------------------------------------------------- Argilla


def _argilla_question(names: Sequence[str], where: str) -> str:
    if QUESTION in names or not names:
        return QUESTION
    if len(names) == 1:
        return names[0]
    raise ClausetagError(f"{where}: responses to several questions ({', '.join(names)}) but none is 'labels'")


def _argilla_record(rec: Any, file: Path, n: int) -> tuple[dict[str, Any], list[Any], str]:
    """A record's data (text and metadata), its responses (``value``, ``user_id``, ``status``?) and
    where it is: nested as ``Record.to_dict`` writes it, or flattened (``to_list(flatten=True)``)."""
    if not isinstance(rec, dict) or not (isinstance(rec.get("fields"), dict) or "text" in rec):
        raise ClausetagError(f"{file}: record {n} has no 'fields' object (an Argilla record dict)")
    if isinstance(rec.get("fields"), dict):
        meta = _object(rec.get("metadata") or {}, f"{file}: record {n}", "'metadata'")
        data, where = {**meta, "text": rec["fields"].get("text")}, f"{file}: record {n} ({rec.get('id')})"
        responses = _object(rec.get("responses") or {}, where, "'responses'")
        answers = responses.get(_argilla_question(list(responses), where)) or []
        if not isinstance(answers, list):
            raise ClausetagError(f"{where}: the responses must be a list, not {json_type(answers)}")
        return data, answers, where
    data, where = {k: v for k, v in rec.items() if "." not in k}, f"{file}: record {n} ({rec.get('id')})"
    names = [k.removesuffix(".responses") for k in rec if k.endswith(".responses")]
    q = _argilla_question(names, where)
    columns = [rec.get(f"{q}.responses{part}") or [] for part in ("", ".users", ".status")]
    if not all(isinstance(c, list) for c in columns):
        raise ClausetagError(f"{where}: the responses of {q!r} must be lists")
    values, users, status = columns
    answers = [
        {
            "value": v,
            "user_id": users[i] if i < len(users) else None,
            "status": status[i] if i < len(status) else None,
        }
        for i, v in enumerate(values)
    ]
    return data, answers, where


def read_argilla(path: Path) -> list[Task]:
    """Argilla records (``records.to_json``, or ``to_list(flatten=True)`` saved as JSON, which keeps
    each response's status), or the folder ``Dataset.to_disk`` writes."""
    file = path / "records.json" if path.is_dir() else path
    raw = read_json(file, MAX_EXPORT_BYTES)
    if not isinstance(raw, list):
        raise ClausetagError(f"{file}: expected a list of Argilla records (dataset.records.to_json)")
    tasks = []
    for n, rec in enumerate(raw, start=1):
        data, answers, where = _argilla_record(rec, file, n)
        rid = rec.get("id") or data.get("unit_id") or f"argilla-{n}"
        task = Task(str(rid), data, where)
        for i, r in enumerate(answers):
            r = _object(r, where, "a response")
            r_where = f"{where}, response {i + 1}"
            if str(r.get("status") or "submitted") != "submitted":  # to_dict leaves the status out
                task.left_out += 1
                continue
            labels = _label_list(r.get("value") if r.get("value") is not None else [], r_where)
            task.annotations.append(Annotation(labels, _annotator(r.get("user_id")), (i,), r_where))
        tasks.append(task)
    return tasks


READERS = {"labelstudio": read_labelstudio, "doccano": read_doccano, "argilla": read_argilla}


# --------------------------------------------------------------------------- units


def _in_order(labels: Iterable[Any], scheme: Sequence[str]) -> list[Any]:
    """Labels in the scheme's order; unknown ones after, kept for the validator to name."""
    index = {x: i for i, x in enumerate(scheme)}
    return sorted(labels, key=lambda x: index.get(x, len(index)))


def _merge(tasks: Sequence[Task]) -> dict[str, Task]:
    """Tasks of one unit (imported twice into the tool) become one, their annotations together."""
    merged: dict[str, Task] = {}
    for t in tasks:
        first = merged.get(t.key)
        if first is None:
            merged[t.key] = Task(t.key, t.data, t.where, list(t.annotations), t.left_out)
            continue
        if first.data.get("text") != t.data.get("text"):
            raise ClausetagError(f"{t.where}: unit id {t.key!r} is also {first.where}, with another text")
        first.annotations += t.annotations
        first.left_out += t.left_out
    return merged


def _unit(task: Task, latest: Annotation, scheme: Sequence[str], lang: str | None) -> CorpusUnit:
    """The unit in corpus format (its fields checked afterwards by the corpus validator)."""
    d = task.data
    if d.get("text") is not None and not isinstance(d.get("text"), str):
        raise ClausetagError(f"{latest.where}: text must be a string, not {json_type(d.get('text'))}")
    if not (d.get("lang") or lang):
        raise ClausetagError(f"{latest.where}: no lang: give each record a 'lang' field or pass --lang en|lv")
    unit: dict[str, Any] = {
        "id": task.key,
        "doc": str(d.get("doc") or task.key),
        "lang": d.get("lang") or lang,
        "text": d.get("text"),
        "labels": _in_order(latest.labels, scheme),
        "source": SOURCE,
    }
    if d.get("kind"):
        unit["kind"] = d["kind"]
    section = d.get("section")
    if isinstance(section, str) and section:
        unit["heading"] = section.split(SECTION_SEPARATOR)
    unit.update(annotator=latest.annotator, _where=latest.where)
    return cast(CorpusUnit, unit)


def _position(task: Task) -> tuple[int, int]:
    unit = task.data.get("unit")
    return (0, unit) if isinstance(unit, int) and not isinstance(unit, bool) else (1, 0)


def annotated_units(tasks: Sequence[Task], labels: Sequence[str], lang: str | None = None) -> Imported:
    """The latest annotation of each task as a corpus unit, checked like the corpus; agreement measured.

    Units come out document by document (first appearance), in their order within it,
    so ``train`` derives headings and neighbours as in the policy.
    """
    merged = _merge(tasks)
    units: list[CorpusUnit] = []
    shared: list[list[frozenset[str]]] = []
    annotators: set[str] = set()
    overruled = 0
    docs: dict[str, int] = {}
    done = [t for t in merged.values() if t.annotations]
    for t in sorted(done, key=lambda t: (docs.setdefault(str(t.data.get("doc")), len(docs)), *_position(t))):
        by_person: dict[str, Annotation] = {}
        for a in sorted(t.annotations, key=lambda a: a.order):
            by_person[a.annotator] = a  # each person's latest
        latest = max(t.annotations, key=lambda a: a.order)
        sets = [frozenset(a.labels) for a in by_person.values()]
        annotators.update(by_person)
        if len(sets) > 1:
            shared.append(sets)
            overruled += len(set(sets)) > 1
        units.append(_unit(t, latest, labels, lang))
    if not units:
        raise ClausetagError("no annotated units in the export (every task is unlabelled or skipped)")
    warnings = check_units(units, labels, hint=HINT)
    report = agreement(shared, labels)
    if report is not None:
        report["annotators"] = len(annotators)
    return Imported(
        units=units,
        tasks=len(merged),
        unannotated=len(merged) - len(done),
        left_out=sum(t.left_out for t in merged.values()),
        overruled=overruled,
        agreement=report,
        warnings=[str(w) for w in warnings],
    )


def import_annotations(
    tool: str, path: str | Path, labels: Sequence[str] | None = None, lang: str | None = None
) -> Imported:
    """Read a tool's export and turn it into checked corpus units (nothing is written)."""
    if tool not in READERS:
        raise ClausetagError(f"the tool must be one of {', '.join(TOOLS)}, not {tool!r}")
    p = Path(path)
    if not p.exists():
        raise ClausetagError(f"{p}: no such file or directory")
    scheme = list(labels) if labels is not None else resolve_label_set(p)
    return annotated_units(READERS[tool](p), scheme, lang)


def import_main(args: argparse.Namespace) -> int:
    """``clausetag data import labelstudio|doccano|argilla FILE -o units.jsonl [--overwrite]``."""
    target = output_target(args.output)
    if not target.stream and target.path.exists() and not args.overwrite:
        raise ClausetagError(f"{args.output} already exists: pass --overwrite to replace it")
    if not target.stream and os.path.realpath(args.path) == os.path.realpath(target.path):
        raise ClausetagError(f"{args.output}: the output would overwrite the input")
    labels = resolve_label_set(args.path, args.labels)
    imported = import_annotations(args.format, args.path, labels, args.lang)
    for w in imported.warnings:
        logger.warning("%s", w)
    write_units(args.output, imported.units)
    docs = len({u["doc"] for u in imported.units})
    skipped = []
    if imported.unannotated:
        skipped.append(f"{imported.unannotated} without annotations")
    if imported.left_out:
        skipped.append(f"{imported.left_out} skipped/discarded/draft annotations left out")
    note = f" ({'; '.join(skipped)})" if skipped else ""
    print(f"wrote {len(imported.units)} units from {docs} document(s) to {args.output}{note}")
    if imported.agreement is not None:
        for line in agreement_lines(imported.agreement, imported.agreement["annotators"]):
            print(line)
        if imported.overruled:
            print(f"{imported.overruled} unit(s) where annotators differ: the latest annotation is kept")
    return 0
