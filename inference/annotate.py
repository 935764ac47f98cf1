"""``clausetag annotate export``: pre-annotated tasks for Label Studio, doccano or Argilla.

The first half of the annotation loop (the second is ``clausetag data import``, in
``clausetag.data.annotations``): the inputs ``predict`` reads are segmented and
tagged, a batch is chosen, and each unit becomes a task with the model's labels
as the suggestion a person corrects.

Choosing the batch (``--select``): ``uncertain`` ranks units by how close their
scores come to the model's own thresholds (``confidence``: the smallest margin
of any label, each margin measured as a share of the room on its side of the
threshold, so 0 is a score on a threshold and 1 a score of 0 or 1), ``random``
draws them with ``--seed``, ``all`` keeps every unit in document order. Both
samplers stop a document at ``--max-per-doc`` units, so one long policy cannot
fill the batch. The chosen order is the file's order (most uncertain first),
and the confidence is written where each tool sorts by it: Label Studio's
prediction ``score`` (its "prediction score" column and the
``prediction-score-min`` sampling), Argilla's ``uncertainty`` metadata property,
and doccano's ``uncertainty`` metadata (doccano lists in import order).

Each format names the unit the same way (``id``: a JSONL record's own id, else
``DOC-NNNN``) and carries its document, position, language, kind and section,
which ``data import`` turns back into corpus units.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import math
import random
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np

from clausetag.data.corpus import DEFAULT_CORPUS_DIR
from clausetag.errors import ClausetagError
from clausetag.inference.classifier import ClauseClassifier
from clausetag.inference.readers import STDIN_FORMATS, Input, InputUnit, read_inputs
from clausetag.inference.report import guess_language
from clausetag.io import DEFAULT_MAX_BYTES, atomic_path, check_folder_output, read_bytes, read_text
from clausetag.labels import EXCLUSIVE_LABEL, LABELS_FILE
from clausetag.languages import LANGUAGES
from clausetag.options import add_backend, add_batch_size, add_output, add_overwrite, positive_int

logger = logging.getLogger(__name__)

FORMATS = ("labelstudio", "doccano", "argilla")
SELECTIONS = ("all", "uncertain", "random")
DEFAULT_K = 100
#: Without --max-per-doc, a document fills at most 1/4 of a batch (half with two, all when alone).
SHARE_OF_DOCS = 4
#: The name of the labels question (Label Studio's Choices, Argilla's question) and of the unit's text.
QUESTION = "labels"
TEXT = "text"
#: How a section path (nearest heading last) is written into a task, and read back.
SECTION_SEPARATOR = " › "
START, END = "(start of the policy)", "(end of the policy)"
#: What each format writes into OUT_DIR besides ``labels.json``.
FILES = {
    "labelstudio": ("tasks.json", "config.xml"),
    "doccano": ("tasks.jsonl", "guidelines.md"),
    "argilla": ("records.json", "settings.json"),
}
#: The bundled annotation guide, whose label table gives each label's hint (the spec's wording).
GUIDE = DEFAULT_CORPUS_DIR.parent / "ANNOTATION_GUIDE.md"
_GUIDE_TABLE = re.compile(r"##\s+(?:\d+\.\s+)?The labels\b")
_GUIDE_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|")


# --------------------------------------------------------------------------- hints


def label_hints(labels: Sequence[str], guide: Path = GUIDE) -> dict[str, str]:
    """A one-line hint per label: its row of the annotation guide's label table ("the unit
    states something substantive about …"); a label the guide does not know gets none."""
    try:
        text = read_text(guide)
    except ClausetagError:
        logger.warning("%s: not found, so the tasks carry no label hints", guide)
        return {}
    rows: dict[str, str] = {}
    in_table = False
    for line in text.splitlines():
        if line.startswith("## "):
            in_table = bool(_GUIDE_TABLE.match(line))
            continue
        match = _GUIDE_ROW.match(line) if in_table else None
        if match:
            rows.setdefault(match.group(1), match.group(2))
    return {x: rows[x] for x in labels if x in rows}


# --------------------------------------------------------------------------- scoring


@dataclass
class Candidate:
    """One unit of the inputs with the model's labels, scores and confidence."""

    id: str
    doc: str
    unit: int
    lang: str
    text: str
    kind: str | None
    section: tuple[str, ...]
    previous: str
    next: str
    labels: list[str]
    scores: dict[str, float]
    confidence: float
    rank: int = 0

    @property
    def uncertainty(self) -> float:
        return round(1.0 - self.confidence, 4)


def confidence(proba: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per row, the smallest margin to a label's threshold, as a share of the room on that side.

    A score on its threshold gives 0 (the least sure); scores of 0 or 1 everywhere give 1.
    """
    proba = np.asarray(proba, dtype=np.float64)
    t = np.asarray(thresholds, dtype=np.float64)
    room = np.where(proba >= t, 1.0 - t, t)
    margin = np.abs(proba - t) / np.maximum(room, 1e-9)
    return np.clip(margin, 0.0, 1.0).min(axis=-1) if proba.size else np.zeros(len(proba))


def _document_lang(item: Input, lang: str | None) -> dict[str, str]:
    """Each document's language: ``--lang``, else guessed from its text (Latvian diacritics)."""
    if item.document is not None:
        return {item.document.doc: lang or guess_language(item.document.text)}
    texts: dict[str, list[str]] = {}
    for u in item.presplit:
        texts.setdefault(u.doc, []).append(u.text)
    return {doc: lang or guess_language(" ".join(t)) for doc, t in texts.items()}


def _unit_id(u: InputUnit) -> str:
    return u.id if u.id is not None else f"{u.doc}-{u.unit:04d}"


def score_inputs(
    clf: ClauseClassifier, items: Sequence[Input], lang: str | None = None, batch_size: int = 32
) -> list[Candidate]:
    """Every unit of every input, tagged in the chunks ``predict`` uses (so the scores are its)."""
    from clausetag.inference.batch import Job, tagged_records

    jobs, units, langs = [], [], []
    for i, item in enumerate(items):
        doc_lang = _document_lang(item, lang)
        seg_lang = lang or (doc_lang[item.document.doc] if item.document is not None else None)
        for u in item.units(seg_lang):
            jobs.append(Job((u.doc, u.unit), u.record(), i, u.context))
            units.append(u)
            langs.append(doc_lang[u.doc])
    records = tagged_records(clf, jobs, batch_size, None)
    proba = np.array([[rec["scores"][x] for x in clf.labels] for rec in records]).reshape(-1, len(clf.labels))
    sure = confidence(proba, clf.thresholds)
    by_doc: dict[str, list[int]] = {}
    for j, u in enumerate(units):
        by_doc.setdefault(u.doc, []).append(j)
    out: list[Candidate | None] = [None] * len(units)
    seen: dict[str, str] = {}
    for idx in by_doc.values():
        for pos, j in enumerate(idx):
            u, rec = units[j], records[j]
            uid = _unit_id(u)
            if uid in seen:
                raise ClausetagError(f"{u.source}: unit id {uid!r} is also the id of a unit of {seen[uid]}")
            seen[uid] = u.source
            out[j] = Candidate(
                id=uid,
                doc=u.doc,
                unit=u.unit,
                lang=langs[j],
                text=u.text,
                kind=u.kind,
                section=tuple(u.context.section) if u.context else (),
                previous=units[idx[pos - 1]].text if pos else START,
                next=units[idx[pos + 1]].text if pos + 1 < len(idx) else END,
                labels=list(rec["labels"]),
                scores=dict(rec["scores"]),
                confidence=round(float(sure[j]), 4),
            )
    return [c for c in out if c is not None]


# --------------------------------------------------------------------------- choosing the batch


def default_cap(k: int, n_docs: int) -> int:
    """Units one document may give a batch of ``k``: a fair share of up to ``SHARE_OF_DOCS`` documents."""
    return max(1, math.ceil(k / max(1, min(n_docs, SHARE_OF_DOCS))))


def choose(
    candidates: Sequence[Candidate],
    select: str = "all",
    k: int | None = None,
    max_per_doc: int | None = None,
    seed: int = 42,
) -> list[Candidate]:
    """The batch in its order (``rank`` 1 first): most uncertain first, a random draw, or all.

    ``uncertain`` and ``random`` take at most ``k`` units and at most ``max_per_doc``
    (default ``default_cap``) from any one document; ties keep document order.
    """
    if select not in SELECTIONS:
        raise ClausetagError(f"--select must be one of {', '.join(SELECTIONS)}, not {select!r}")
    order = list(range(len(candidates)))
    if select == "uncertain":
        order.sort(key=lambda i: candidates[i].confidence)
    elif select == "random":
        random.Random(seed).shuffle(order)
    if select != "all":
        k = DEFAULT_K if k is None else k
        cap = max_per_doc or default_cap(k, len({c.doc for c in candidates}))
        taken: Counter[str] = Counter()
        picked: list[int] = []
        for i in order:
            if len(picked) == k:
                break
            if taken[candidates[i].doc] < cap:
                taken[candidates[i].doc] += 1
                picked.append(i)
        order = picked
    return [dataclasses.replace(candidates[i], rank=rank) for rank, i in enumerate(order, start=1)]


# --------------------------------------------------------------------------- the three formats


def _meta(c: Candidate) -> dict[str, Any]:
    """What every format records of a unit besides its text (``data import`` reads it back)."""
    meta: dict[str, Any] = {"doc": c.doc, "unit": c.unit, "lang": c.lang}
    if c.kind is not None:
        meta["kind"] = c.kind
    meta["section"] = SECTION_SEPARATOR.join(c.section)
    return meta


def labelstudio_task(c: Candidate, model_version: str) -> dict[str, Any]:
    """A Label Studio task: the unit and its neighbours in ``data``, the model's labels as a prediction."""
    data = {"id": c.id, TEXT: c.text, **_meta(c), "previous": c.previous, "next": c.next}
    data.update(rank=c.rank, uncertainty=c.uncertainty)
    result = []
    if c.labels:
        result.append(
            {"from_name": QUESTION, "to_name": TEXT, "type": "choices", "value": {"choices": c.labels}}
        )
    prediction = {"model_version": model_version, "score": c.confidence, "result": result}
    return {"data": data, "predictions": [prediction], "meta": {"scores": c.scores}}


def _text_view(css: str, name: str) -> str:
    return f'  <View className="{css}"><Text name="{name}" value="${name}" granularity="word"/></View>'


def labelstudio_config(labels: Sequence[str], hints: dict[str, str]) -> str:
    """The labeling config: section, the unit between its neighbours, one multiple-choice per label.

    Each ``Choice`` shows its hint beside the name (``html``; ``value`` is what is exported)
    and carries it as ``hint`` too (a tooltip, where Label Studio's flag for it is on).
    """
    choices = []
    for name in labels:
        hint = hints.get(name, "")
        html = f"<b>{escape(name)}</b>"
        attrs = f"value={quoteattr(name)}"
        if hint:
            html += f" <span style='color:#666'>— {escape(hint)}</span>"
            attrs += f" hint={quoteattr(hint)}"
        choices.append(f"    <Choice {attrs} html={quoteattr(html)}/>")
    note = "Labels: one or more"
    if EXCLUSIVE_LABEL in labels:
        note += f"; '{EXCLUSIVE_LABEL}' only when none of the others applies"
    return "\n".join(
        [
            "<View>",
            "  <Style>.ct-context { color: #777; font-size: 0.9em; } "
            ".ct-unit { font-size: 1.15em; border-left: 4px solid #4a90d9; padding-left: 0.6em; }</Style>",
            '  <Header value="$section" size="5"/>',
            _text_view("ct-context", "previous"),
            _text_view("ct-unit", TEXT),
            _text_view("ct-context", "next"),
            f'  <Header value={quoteattr(note)} size="6"/>',
            f'  <Choices name="{QUESTION}" toName="{TEXT}" choice="multiple" required="true"'
            ' showInline="false">',
            *choices,
            "  </Choices>",
            "</View>",
            "",
        ]
    )


def doccano_record(c: Candidate, model_version: str) -> dict[str, Any]:
    """A line of doccano's text-classification JSONL: ``text``, ``label``, the rest is its metadata.

    The unit's id goes in ``unit_id``: doccano's own export puts its example id in ``id``.
    """
    return {
        TEXT: c.text,
        "label": c.labels,
        "unit_id": c.id,
        **_meta(c),
        "previous": c.previous,
        "next": c.next,
        "rank": c.rank,
        "uncertainty": c.uncertainty,
        "model_version": model_version,
        "scores": c.scores,
    }


def _context_markdown(c: Candidate) -> str:
    section = f"**{SECTION_SEPARATOR.join(c.section)}**\n\n" if c.section else ""
    return f"{section}before: {c.previous}\n\nafter: {c.next}"


def argilla_record(c: Candidate, model_version: str) -> dict[str, Any]:
    """An Argilla record as its SDK writes it (``Record.to_dict``; ``records.to_json`` a list of them):
    the suggestion holds the model's labels, a score for each, and the model as its agent."""
    record: dict[str, Any] = {
        "id": c.id,
        "fields": {TEXT: c.text, "context": _context_markdown(c)},
        "metadata": {
            **_meta(c),
            "rank": c.rank,
            "uncertainty": c.uncertainty,
            "model_version": model_version,
        },
        "suggestions": {},
        "responses": {},
        "vectors": {},
        "status": "pending",
    }
    if c.labels:
        record["suggestions"][QUESTION] = {
            "value": c.labels,
            "score": [c.scores[x] for x in c.labels],
            "agent": model_version,
        }
    return record


def _hint_table(labels: Sequence[str], hints: dict[str, str]) -> str:
    rows = "\n".join(f"| `{x}` | {hints.get(x, '')} |" for x in labels)
    return f"| label | the unit states something substantive about … |\n|---|---|\n{rows}\n"


def guidelines(labels: Sequence[str], hints: dict[str, str]) -> str:
    """Markdown for the tool's guidelines box (doccano's project guideline, Argilla's guidelines)."""
    rule = f"`{EXCLUSIVE_LABEL}` only when none of the others applies. " if EXCLUSIVE_LABEL in labels else ""
    return (
        "# Labelling privacy-policy units\n\n"
        "Give each unit every label it states something substantive about (the unit itself, not "
        f"what surrounds it; its neighbours are shown for context). {rule}The full rules, with "
        "EN/LV examples, are in clausetag's annotation guide (`data/ANNOTATION_GUIDE.md`).\n\n"
        + _hint_table(labels, hints)
    )


def argilla_settings(labels: Sequence[str], hints: dict[str, str]) -> dict[str, Any]:
    """The dataset settings as the Argilla SDK serialises them (``Settings.to_json``)."""

    def prop(name: str, kind: str) -> dict[str, Any]:
        settings: dict[str, Any] = {"visible_for_annotators": True, "type": kind}
        settings.update({"values": None} if kind == "terms" else {"min": None, "max": None})
        return {"name": name, "title": name, "settings": settings, "visible_for_annotators": True}

    def text_field(name: str, required: bool, markdown: bool) -> dict[str, Any]:
        settings = {"type": "text", "use_markdown": markdown}
        return {"name": name, "title": name, "settings": settings, "required": required, "type": "text"}

    options = [{"value": x, "text": x, "description": hints.get(x)} for x in labels]
    question = {
        "name": QUESTION,
        "title": "Which GDPR clause labels does this unit carry?",
        "description": _hint_table(labels, hints),
        "required": True,
        "settings": {
            "type": "multi_label_selection",
            "options": options,
            "visible_options": None,
            "options_order": "natural",
        },
        "type": "multi_label_selection",
    }
    metadata = [prop("doc", "terms"), prop("lang", "terms"), prop("kind", "terms"), prop("section", "terms")]
    metadata += [prop("unit", "integer"), prop("rank", "integer"), prop("uncertainty", "float")]
    return {
        "guidelines": guidelines(labels, hints),
        "questions": [question],
        "fields": [text_field(TEXT, True, False), text_field("context", False, True)],
        "vectors": [],
        "metadata": metadata,
        "allow_extra_metadata": True,
        "distribution": {"strategy": "overlap", "min_submitted": 1},
        "mapping": None,
    }


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=1) + "\n"


def render(fmt: str, batch: Sequence[Candidate], labels: Sequence[str], model_version: str) -> dict[str, str]:
    """The files of an export (name -> text), ``labels.json`` included."""
    hints = label_hints(labels)
    files: dict[str, str] = {LABELS_FILE: json.dumps(list(labels), ensure_ascii=False, indent=2) + "\n"}
    if fmt == "labelstudio":
        files["tasks.json"] = _dump([labelstudio_task(c, model_version) for c in batch])
        files["config.xml"] = labelstudio_config(labels, hints)
    elif fmt == "doccano":
        lines = (json.dumps(doccano_record(c, model_version), ensure_ascii=False) + "\n" for c in batch)
        files["tasks.jsonl"] = "".join(lines)
        files["guidelines.md"] = guidelines(labels, hints)
    elif fmt == "argilla":
        files["records.json"] = _dump([argilla_record(c, model_version) for c in batch])
        files["settings.json"] = _dump(argilla_settings(labels, hints))
    else:
        raise ClausetagError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return files


def model_version(clf: ClauseClassifier) -> str:
    """The model's folder name and a digest of its config and thresholds: which model suggested."""
    digest = hashlib.sha256()
    for name in ("config.json", "thresholds.json"):
        digest.update(read_bytes(clf.model_dir.path / name, regular=True, binary=True))
    return f"{clf.model_dir.path.resolve().name}-{digest.hexdigest()[:8]}"


def write_export(out: Path, files: dict[str, str], overwrite: bool = False) -> None:
    """The export folder, written whole into a temporary folder and renamed into place."""
    check_folder_output(out, "annotate export writes a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ClausetagError(f"{out} already exists and is not empty: pass --overwrite to replace it")
    with atomic_path(out, directory=True) as tmp:
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- the command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clausetag annotate",
        description="Pre-annotated tasks for an annotation tool; the corrections come back with "
        "`clausetag data import FORMAT FILE -o units.jsonl` and train with "
        "`clausetag train --extra_train_file units.jsonl`.",
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="{export}")
    p = sub.add_parser("export", help="write tasks with the model's labels as pre-annotations")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="what `clausetag predict` reads")
    p.add_argument("--model", required=True, help="model directory written by `clausetag train`")
    p.add_argument("--format", choices=FORMATS, required=True, help="the annotation tool")
    add_output(
        p, "folder to write (labelstudio: tasks.json + config.xml)", required=True, type=Path, metavar="DIR"
    )
    p.add_argument(
        "--select",
        choices=SELECTIONS,
        default="all",
        help="which units: all (document order), uncertain (closest to the thresholds first), random",
    )
    p.add_argument(
        "-k", type=positive_int, metavar="N", help=f"with uncertain/random: batch size (default {DEFAULT_K})"
    )
    p.add_argument(
        "--max-per-doc",
        type=positive_int,
        metavar="N",
        help=f"with uncertain/random: units per document at most (default: a fair share of "
        f"{SHARE_OF_DOCS} documents)",
    )
    p.add_argument("--seed", type=int, default=42, help="with random: the draw's seed")
    p.add_argument("--lang", choices=LANGUAGES, help="the inputs' language (default: guessed per document)")
    add_backend(p)
    add_batch_size(p)
    p.add_argument("--max-bytes", type=positive_int, default=DEFAULT_MAX_BYTES, help="largest input accepted")
    p.add_argument("--stdin-format", choices=STDIN_FORMATS, default="txt", help="what '-' (stdin) holds")
    add_overwrite(p)
    return parser


def export_main(args: argparse.Namespace) -> int:
    if args.select == "all" and (args.k is not None or args.max_per_doc is not None):
        raise ClausetagError("-k and --max-per-doc go with --select uncertain or random")
    check_folder_output(args.output, "annotate export writes a folder")
    items = read_inputs(args.inputs, args.max_bytes, args.stdin_format)
    from clausetag.inference.batch import load_classifier

    clf = load_classifier(args.model, args.backend)
    candidates = score_inputs(clf, items, args.lang, args.batch_size)
    batch = choose(candidates, args.select, args.k, args.max_per_doc, args.seed)
    files = render(args.format, batch, clf.labels, model_version(clf))
    write_export(args.output, files, args.overwrite)
    docs = len({c.doc for c in batch})
    how = {"all": "in document order", "uncertain": "most uncertain first", "random": "in random order"}
    written = ", ".join(name for name in files)
    print(
        f"wrote {len(batch)} of {len(candidates)} units from {docs} document(s), {how[args.select]}, "
        f"to {args.output}/ ({written})",
        file=sys.stderr,
    )
    return 0


def main(argv: list[str]) -> int:
    """``clausetag annotate export …``."""
    args = _parser().parse_args(argv)
    return export_main(args)
