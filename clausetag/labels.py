"""The label scheme: the spec's 17 GDPR clause categories, and label sets as data.

This module is the only place that spells the default labels out. Everything else
(training, evaluation, inference, the corpus validator) takes a label list as data,
so a researcher's own scheme (e.g. OPP-115's ten categories) works the same way.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from clausetag.errors import ClausetagError
from clausetag.io import check_strings, is_blank, read_text

#: The labels of ``spec/labels.md`` (v1), in the spec's table order.
DEFAULT_LABELS: tuple[str, ...] = (
    "controller",
    "data_categories",
    "purpose",
    "legal_basis",
    "recipients",
    "transfer",
    "retention",
    "security",
    "rights",
    "user_choice",
    "complaint",
    "cookies",
    "automated_decisions",
    "children",
    "policy_changes",
    "provision_requirement",
    "other",
)

#: The catch-all label: used only when no other label applies (spec rule 3).
EXCLUSIVE_LABEL = "other"


#: A file beside a corpus that names its label scheme (see ``resolve_label_set``).
LABELS_FILE = "labels.json"
#: A label list is a few hundred bytes; a larger ``--labels`` file is the wrong file.
LABEL_FILE_MAX_BYTES = 1024 * 1024


def resolve_label_set(data_path: str | Path | None = None, labels: str | Path | None = None) -> list[str]:
    """The label scheme for a data set: ``--labels`` first, then a ``labels.json``
    beside the data (a directory or a file's folder), else the spec's 17 labels.

    Keeping the scheme in a file next to the data means an imported corpus
    (e.g. OPP-115) carries its own labels through validate, train and evaluate
    without any flag, while a typo in our own corpus is still caught.
    """
    if labels is not None:
        return load_label_file(labels)
    if data_path is not None:
        p = Path(data_path)
        beside = (p if p.is_dir() else p.parent) / LABELS_FILE
        if beside.is_file():
            return load_label_file(beside)
    return list(DEFAULT_LABELS)


def load_label_file(path: str | Path) -> list[str]:
    """Read a label list: a JSON array of names, or a text file with one name per line."""
    p = Path(path)
    # Size, binary, encoding and emptiness checks: a wrong --labels file is one message.
    raw = read_text(p, LABEL_FILE_MAX_BYTES, hint="is this a label list?")
    if p.suffix == ".json":
        try:
            labels = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ClausetagError(f"{p}: not valid JSON ({exc.msg})") from None
        except (RecursionError, ValueError):  # nested too deeply; an integer too long to read
            raise ClausetagError(f"{p}: expected a JSON array of label names") from None
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise ClausetagError(f"{p}: expected a JSON array of label names")
    else:
        labels = [line.strip() for line in raw.splitlines() if line.strip()]
    return check_label_set(labels, source=str(p))


def check_label_set(labels: Iterable[str], source: str = "label set") -> list[str]:
    """Refuse empty or duplicated label lists: they silently break multi-hot encoding.

    Names are strings without NUL or lone surrogates (they are written to JSON
    and printed), shown quoted in messages so a name with a newline stays on one line.
    """
    out = list(labels)
    if not out:
        raise ClausetagError(f"{source}: the label set is empty")
    if not all(isinstance(x, str) for x in out):
        raise ClausetagError(f"{source}: label names must be strings")
    check_strings(out, source)
    dupes = sorted(x for x, n in Counter(out).items() if n > 1)
    if dupes:
        raise ClausetagError(f"{source}: duplicated labels: {', '.join(map(repr, dupes))}")
    if any(map(is_blank, out)):
        raise ClausetagError(f"{source}: a label name is empty")
    return out
