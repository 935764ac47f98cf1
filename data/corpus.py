"""Loading, validating and splitting corpus units (JSON Lines, one unit per line).

A unit is ``{"id", "doc", "lang", "text", "labels", "source", "orig"?}``. Only
``text``, ``lang`` and ``labels`` are required from outside data: missing ids and
docs are derived, so any JSONL in that shape trains and evaluates. Other fields
are the user's and are carried through untouched; ``source`` is checked against
the corpus's own values only for the bundled corpus.
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from clausetag.errors import ClausetagError
from clausetag.io import atomic_writer, is_blank, iter_jsonl
from clausetag.labels import DEFAULT_LABELS, EXCLUSIVE_LABEL
from clausetag.languages import lang_problem

#: The bundled corpus: the five seed policies, their translations, authored units.
DEFAULT_CORPUS_DIR = Path(__file__).resolve().parent / "corpus"

SOURCES = ("seed", "translation", "authored")


class CorpusUnit(TypedDict, total=False):
    """One labelled unit of a corpus JSONL (not ``inference.readers.InputUnit``, a unit to tag).

    Fields other than these are the user's: they are read and kept untouched.
    """

    id: str
    doc: str
    lang: str
    text: str
    labels: list[str]
    source: str
    orig: str
    start: int
    end: int
    note: str
    # where the unit was read from, for error messages; never written back
    _where: str
    # the --extra_train_file it came from (``extend_units``); never written back
    _extra: str


def corpus_files(path: str | Path | None = None) -> list[Path]:
    """The JSONL files of a corpus: a directory's ``*.jsonl`` at any depth (sorted) or one file.

    Folders whose name starts with ``_`` or ``.`` are scratch space and skipped.
    """
    p = Path(path) if path is not None else DEFAULT_CORPUS_DIR
    if p.is_dir():
        files = sorted(
            f
            for f in p.rglob("*.jsonl")
            if not any(part.startswith(("_", ".")) for part in f.relative_to(p).parts[:-1])
        )
        if not files:
            raise ClausetagError(f"{p}: no .jsonl files in this directory")
        return files
    if not p.exists():
        raise ClausetagError(f"{p}: no such file or directory")
    return [p]


@dataclass
class Problem:
    where: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.where}: {'warning: ' if self.warning else ''}{self.message}"


def is_bundled(path: str | Path | None) -> bool:
    """Whether ``path`` is (inside) the bundled corpus, whose own conventions are checked too."""
    if path is None:
        return True
    try:
        Path(path).resolve().relative_to(DEFAULT_CORPUS_DIR)
    except ValueError:
        return False
    return True


def normalised(text: str) -> str:
    """Text for consistency checks: NFKC, case-folded, whitespace collapsed."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().casefold()


def _read(paths: Iterable[Path]) -> list[CorpusUnit]:
    units: list[CorpusUnit] = []
    for path in paths:
        for lineno, rec in iter_jsonl(path, required=("text", "lang", "labels")):
            unit: CorpusUnit = dict(rec)  # type: ignore[assignment]  # unknown fields carried through
            unit["_where"] = f"{path}:{lineno}"
            unit.setdefault("id", f"{path.stem}:{lineno}")
            unit.setdefault("doc", path.stem)
            unit.setdefault("source", "seed")
            units.append(unit)
    return units


def validate_units(
    units: Sequence[CorpusUnit], labels: Sequence[str], bundled: bool = False
) -> list[Problem]:
    """Every problem in the units, each tied to its file and line (warnings flagged).

    Checks the brief's rules: known labels only, no empty text or label list,
    unique ids, ``other`` never mixed with another label, translations pointing
    at a unit that exists, and the scheme's consistency rules (see
    ``consistency_problems``). ``bundled``: also check the corpus's own
    ``source`` values (a researcher's file may use ``source`` for its own ends).
    """
    known = set(labels)
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for u in units:
        where = _where(u)

        def bad(msg: str, where: str = where) -> None:
            problems.append(Problem(where, msg))

        uid = u.get("id")
        if not isinstance(uid, str) or not uid:
            bad("'id' must be a non-empty string")
        elif uid in seen:
            bad(f"duplicate id {uid!r} (first at {seen[uid]})")
        else:
            seen[uid] = where
        text = u.get("text")
        if not isinstance(text, str) or is_blank(text):  # zero-width characters are blank too
            bad("empty text")
        lang_bad = lang_problem(u.get("lang"))  # the one list of languages (clausetag.languages)
        if lang_bad:
            bad(lang_bad)
        labs = u.get("labels")
        if not isinstance(labs, list) or not all(isinstance(x, str) for x in labs):
            bad("'labels' must be a list of label names")
            continue
        if not labs:
            bad(f"no labels (use {EXCLUSIVE_LABEL!r} when nothing else applies)")
        unknown = [x for x in labs if x not in known]
        if unknown:
            bad(f"unknown label(s) {', '.join(map(repr, unknown))}")
        if len(set(labs)) != len(labs):
            bad("a label is repeated")
        if EXCLUSIVE_LABEL in labs and len(labs) > 1 and EXCLUSIVE_LABEL in known:
            bad(f"{EXCLUSIVE_LABEL!r} is exclusive but is combined with {labs}")
        source = u.get("source")
        if bundled and source not in SOURCES:
            bad(f"'source' must be one of {', '.join(SOURCES)}, not {source!r}")
    ids = {u.get("id") for u in units}
    for u in units:
        if u.get("source") == "translation":
            orig = u.get("orig")
            where = _where(u)
            if not orig:
                problems.append(Problem(where, "a translation needs 'orig' (its original's id)"))
            elif orig not in ids:
                problems.append(Problem(where, f"translation of {orig!r}, which does not exist"))
    return problems + consistency_problems(units, labels)


def consistency_problems(units: Sequence[CorpusUnit], labels: Sequence[str] | None = None) -> list[Problem]:
    """The label scheme's consistency rules, each naming both units' file:line.

    - identical (normalised) texts in one document and language carry identical
      labels (spec rule 17);
    - a translation carries its original's labels (rule 6);
    - ``complaint`` with ``rights`` is a warning unless the unit records why in a
      ``note`` (rule 8);
    - the mechanical checks of ``spec_rule_problems`` (rules 7, 15, 18, 19 and the
      ``kind`` field), for the label scheme ``labels`` (default: the spec's).
    """
    problems: list[Problem] = []
    valid = [u for u in units if isinstance(u.get("text"), str) and isinstance(u.get("labels"), list)]
    first: dict[tuple[str, str, str], CorpusUnit] = {}
    for u in valid:
        key = (str(u.get("doc")), str(u.get("lang")), normalised(u["text"]))
        seen = first.setdefault(key, u)
        if seen is not u and set(seen["labels"]) != set(u["labels"]):
            problems.append(
                Problem(
                    _where(u),
                    f"same text as {_where(seen)} in document {key[0]} but labels {u['labels']} "
                    f"instead of {seen['labels']} (identical texts carry identical labels)",
                )
            )
    by_id = {u.get("id"): u for u in valid}
    for u in valid:
        orig = by_id.get(u.get("orig")) if u.get("source") == "translation" else None
        if orig is not None and set(orig["labels"]) != set(u["labels"]):
            problems.append(
                Problem(
                    _where(u),
                    f"translation labelled {u['labels']} but its original {_where(orig)} is "
                    f"labelled {orig['labels']} (a translation keeps its original's labels)",
                )
            )
        if {"complaint", "rights"} <= set(u["labels"]) and not u.get("note"):
            problems.append(
                Problem(
                    _where(u),
                    "'complaint' with 'rights': a complaint to the authority is 'complaint' only "
                    "(spec rule 8); record the reason in a 'note' field if both are meant",
                    warning=True,
                )
            )
    return problems + spec_rule_problems(units, labels)


#: The values of a unit's optional ``kind`` field (its layout role in the policy).
KINDS = ("heading", "lead-in", "list-item", "sentence", "table-row")

_COMPANY = r"(?-i:\b(?:SIA|AS|IK|ZS|Ltd|LLC|GmbH|[Bb]iedrība|[Nn]odibinājums)\b)"  # case-sensitive: not "as"
#: Rule 19: a registration number (with its digits), or the controller named with "hereinafter"/"turpmāk"
#: or with a definition of "we"/"mēs".
_RULE19 = re.compile(
    r"\b(?:reg(?:istration)?|reģ(?:istrācijas)?)\.?\s*(?:no|nr|number|numurs)\b\.?\s*[:.]?\s*(?:LV)?\s*\d{6,}"
    rf"|{_COMPANY}[^()]{{0,80}}\((?:hereinafter|turpmāk)\b"
    r"|\((?:hereinafter|turpmāk)\b[^)]{0,40}(?:\bwe\b|\bus\b|\bmēs\b|controller|pārzin)"
    r"|[\"“„‘']we[\"”’'][^.]{0,40}?\b(?:means?|refers? to)\b"
    r"|[\"“„‘']mēs[\"”’'][^.]{0,40}?\b(?:ir|nozīmē|apzīmē)\b",
    re.IGNORECASE,
)
_NUMBERING = r"^\W*(?:\d+(?:\.\d+)*\.?\s+)?"
#: Rule 15: a version or effective-date line.
_RULE15 = re.compile(
    _NUMBERING + r"(?:last\s+(?:updated|modified|revised|amended|changed)\b|updated\s*(?:on\s*)?:"
    r"|version\s*(?:no\.?\s*)?\d|effective\s+(?:date\b|from\b|as\s+of\b)"
    r"|redakcija\b|spēkā\s+(?:no|kopš)\b|versija\s*(?:nr\.?\s*)?\d|pēdējo\s+reizi\s+(?:atjaunināt|grozīt))"
    r"|\b(?:is|are|becomes?)\s+effective\s+(?:as\s+of|from|on)\b[^.]{0,40}\d{4}"
    r"|\b(?:ir|stājas)\s+spēkā\s+(?:no|kopš|ar)\b[^.]{0,40}\d{4}",
    re.IGNORECASE,
)
#: Rule 7: withdrawing consent (not "has withdrawn their consent", a condition of erasure).
_RULE7 = re.compile(
    r"\b(?:withdraw|withdrawing|withdrawal\s+of|revoke|revoking|revocation\s+of)\b(?:\s+\S+){0,4}?\s+consents?\b"
    r"|\bconsents?\b[^.;]{0,40}\b(?:can|may)\s+be\s+withdrawn\b"
    r"|\batsau(?:kt|kšan\w*|cat|cot)\b[^.;]{0,40}\bpiekrišan"
    r"|\bpiekrišan\w*[^.;]{0,40}\batsau(?:kt|kšan\w*|cat|cot)\b",
    re.IGNORECASE,
)
#: Rule 18: tracker words, once references to a cookie policy are taken out ...
_TRACKER = re.compile(
    r"cookie|sīkdat|sīkfail|pixel|pikseļ|beacon|bāk|tracking|izsekoš|analytics|analītik", re.IGNORECASE
)
_COOKIE_POLICY = re.compile(r"cookie\s+(?:policy|notice)|sīk(?:datņu|failu)\s+politik\w*", re.IGNORECASE)
#: ... and words of other processing; a unit with any of them is left alone (it may state more).
_OTHER_PROCESSING = re.compile(
    r"e-?mail|e-pas|\bnames?\b|vārd|phone|tālru|address|adres|(?<!in )\border|pasūt|account|kont[au]\b"
    r"|contract|līgum|payment|maksāj|newsletter|jaunum|deliver|piegād|personal data|personas dat|profil",
    re.IGNORECASE,
)


def spec_rule_problems(units: Sequence[CorpusUnit], labels: Sequence[str] | None = None) -> list[Problem]:
    """Mechanical checks of the spec's v2.1 conventions; each names its rule.

    Warnings (a reader decides): a unit that introduces the controller by a registration
    number, "hereinafter"/"turpmāk" or a definition of "we"/"mēs" without ``controller``
    (rule 19); a "Last updated"/"Version N"/"Redakcija"/"spēkā no" line without
    ``policy_changes`` (rule 15); withdrawing consent labelled ``rights`` without
    ``user_choice`` (rule 7); ``cookies`` with ``purpose`` where the text speaks of
    trackers only (rule 18). A rule is checked only where its labels are in ``labels``
    (default: the spec's), so another scheme is not warned about. Error: a ``kind``
    field that is not one of ``KINDS``.
    """
    known = set(DEFAULT_LABELS if labels is None else labels)
    problems: list[Problem] = []

    def warn(u: CorpusUnit, rule: str, message: str) -> None:
        problems.append(Problem(_where(u), f"spec rule {rule}: {message}", warning=True))

    for u in units:
        if "kind" in u:
            kind = u.get("kind")
            if kind not in KINDS:
                problems.append(Problem(_where(u), f"'kind' must be one of {', '.join(KINDS)}, not {kind!r}"))
        text, labs = u.get("text"), u.get("labels")
        if not isinstance(text, str) or not isinstance(labs, list):
            continue
        has = set(labs)
        # a processor's or the authority's number is not the controller's ('recipients', 'complaint')
        if (
            "controller" in known
            and not has & {"controller", "recipients", "complaint"}
            and _RULE19.search(text)
        ):
            warn(u, "19", "introduces the controller (registration number, hereinafter/turpmāk or "
                 "a definition of 'we') but is not labelled 'controller'")  # fmt: skip
        if "policy_changes" in known and "policy_changes" not in has and _RULE15.search(text):
            warn(u, "15", "a version or effective-date line is 'policy_changes'")
        if (
            {"rights", "user_choice"} <= known
            and "rights" in has
            and "user_choice" not in has
            and _RULE7.search(text)
        ):
            warn(
                u, "7", "withdrawing consent is 'user_choice' (and 'rights' only beside a data-subject right)"
            )
        if {"cookies", "purpose"} <= has <= {"data_categories", "purpose", "cookies"}:
            trackers = _COOKIE_POLICY.sub(" ", text)
            if _TRACKER.search(trackers) and not _OTHER_PROCESSING.search(text):
                warn(u, "18", "what trackers are for is 'cookies' only; 'purpose' needs other processing")
    return problems


def _where(u: CorpusUnit) -> str:
    return u.get("_where", str(u.get("id")))


#: What a refusal of invalid units suggests (``check_units``).
VALIDATE_HINT = (
    "run `clausetag data validate` for the full list; a different label scheme "
    "goes in --labels FILE or a labels.json beside the data"
)


def check_units(
    units: Sequence[CorpusUnit], labels: Sequence[str], bundled: bool = False, hint: str = VALIDATE_HINT
) -> list[Problem]:
    """Refuse units with any problem (``validate_units``) in one message; returns the warnings."""
    found = validate_units(units, labels, bundled=bundled)
    problems = [p for p in found if not p.warning]
    if problems:
        shown = "\n  ".join(str(p) for p in problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise ClausetagError(f"{len(problems)} problem(s) in the data:\n  {shown}{more}\n({hint})")
    return [p for p in found if p.warning]


def load_units(
    path: str | Path | None = None,
    labels: Sequence[str] | None = None,
    validate: bool = True,
) -> list[CorpusUnit]:
    """Load a corpus (directory or JSONL); with ``labels``, refuse invalid units."""
    units = _read(corpus_files(path))
    if validate and labels is not None:
        check_units(units, labels, bundled=is_bundled(path))
    return units


def extend_units(
    units: Sequence[CorpusUnit], paths: Sequence[str | Path], labels: Sequence[str]
) -> list[CorpusUnit]:
    """``units`` and the units of each of ``paths`` (``train --extra_train_file``), checked together.

    Each added unit records its file in ``_extra`` (never written back), so the model card
    can count them; an id or a text given twice across the files is refused like one
    corpus's would be.
    """
    combined = list(units)
    for path in paths:
        combined += [{**u, "_extra": str(path)} for u in load_units(path, labels)]
    check_units(combined, labels)
    return combined


def write_units(path: str | Path, units: Iterable[CorpusUnit]) -> None:
    """Units as corpus JSONL, one per line, written atomically (bookkeeping fields left out)."""
    with atomic_writer(path) as fh:
        for u in units:
            fh.write(json.dumps(public(u), ensure_ascii=False) + "\n")


def public(unit: CorpusUnit) -> dict[str, Any]:
    """The unit without bookkeeping fields, as it is written to JSONL."""
    return {k: v for k, v in unit.items() if not k.startswith("_")}


def document_groups(units: Sequence[CorpusUnit]) -> dict[str, list[int]]:
    """Indices of units per document; a translation joins its original's document.

    Splitting by these groups keeps a policy and its translation on one side,
    so no split can be scored on a translation of its own training text.
    """
    doc_of_id = {u["id"]: u["doc"] for u in units}
    groups: dict[str, list[int]] = {}
    for i, u in enumerate(units):
        doc = u["doc"]
        orig = u.get("orig")
        if orig and orig in doc_of_id:
            doc = doc_of_id[orig]
        groups.setdefault(doc, []).append(i)
    return groups


def label_matrix(units: Sequence[CorpusUnit], labels: Sequence[str]) -> np.ndarray:
    """0/1 matrix (units × labels) in the order of ``labels``; unknown labels are refused by name."""
    index = {x: i for i, x in enumerate(labels)}
    unknown = sorted({x for u in units for x in u["labels"]} - set(index))
    if unknown:
        raise ClausetagError(
            f"the data uses label(s) outside the label set: {', '.join(unknown)} "
            f"(the set: {', '.join(labels)})"
        )
    y = np.zeros((len(units), len(labels)), dtype=int)
    for row, u in enumerate(units):
        y[row, [index[x] for x in u["labels"]]] = 1
    return y


def authored_ids(units: Sequence[CorpusUnit]) -> set[str]:
    """Ids of authored units and of their translations: training-side text, never scored."""
    own = {u["id"] for u in units if u.get("source") == "authored"}
    return own | {u["id"] for u in units if u.get("source") == "translation" and u.get("orig") in own}


def real_documents(units: Sequence[CorpusUnit], groups: dict[str, list[int]] | None = None) -> list[str]:
    """Documents that hold real text; authored policies (and their translations) train only."""
    groups = document_groups(units) if groups is None else groups
    authored = authored_ids(units)
    return sorted(d for d, idx in groups.items() if any(units[i]["id"] not in authored for i in idx))


def authored_documents(units: Sequence[CorpusUnit], groups: dict[str, list[int]] | None = None) -> list[str]:
    """Documents made only of authored text (and its translations)."""
    groups = document_groups(units) if groups is None else groups
    real = set(real_documents(units, groups))
    return sorted(d for d in groups if d not in real)


#: With at least this many authored policies, dev is drawn from them, not from the real documents.
MIN_AUTHORED_FOR_DEV = 5


def default_dev_documents(
    units: Sequence[CorpusUnit], fraction: float = 0.2, seed: int = 42, exclude: Sequence[str] = ()
) -> list[str]:
    """Dev documents drawn with ``seed``: a share of the authored policies when there are enough.

    Many small dev documents choose an epoch and thresholds that hold up better on
    unseen policies than one real document does, and every real document stays
    in training. Without authored policies, ``fraction`` of the real documents
    (at least one) are drawn.
    """
    groups = document_groups(units)
    authored = [d for d in authored_documents(units, groups) if d not in exclude]
    pool = (
        authored
        if len(authored) >= MIN_AUTHORED_FOR_DEV
        else [d for d in real_documents(units, groups) if d not in exclude]
    )
    if len(pool) < 2:
        raise ClausetagError("need at least two documents to hold one out for dev")
    return sorted(random.Random(seed).sample(pool, max(1, round(fraction * len(pool)))))


def split_by_document(
    units: Sequence[CorpusUnit],
    dev_docs: Sequence[str] | None = None,
    test_docs: Sequence[str] | None = None,
    dev_fraction: float = 0.2,
    seed: int = 42,
) -> dict[str, list[CorpusUnit]]:
    """Document-level train/dev(/test) split. Authored units train, or are dev when named.

    Without explicit documents, dev is ``default_dev_documents``.
    """
    groups = document_groups(units)
    unknown = [d for d in [*(dev_docs or []), *(test_docs or [])] if d not in groups]
    if unknown:
        raise ClausetagError(f"no such document(s) in the data: {', '.join(unknown)}")
    test = list(test_docs or [])
    dev = list(dev_docs) if dev_docs is not None else default_dev_documents(units, dev_fraction, seed, test)
    out: dict[str, list[CorpusUnit]] = {"train": [], "dev": [], "test": []}
    authored = authored_ids(units)
    for doc, idx in groups.items():
        for i in idx:
            u = units[i]
            if u["id"] in authored:  # training text; dev only when named (never test)
                name = "dev" if doc in dev else "train"
            else:
                name = "test" if doc in test else "dev" if doc in dev else "train"
            out[name].append(u)
    if not test:
        del out["test"]
    return out


def leave_one_document_out(
    units: Sequence[CorpusUnit],
) -> list[tuple[str, list[CorpusUnit], list[CorpusUnit]]]:
    """``(held_out_doc, train, test)`` per real document, translation held out with it."""
    groups = document_groups(units)
    folds = []
    for doc in real_documents(units, groups):
        held = set(groups[doc])
        train = [u for i, u in enumerate(units) if i not in held]
        test = [units[i] for i in sorted(held)]
        folds.append((doc, train, test))
    return folds
