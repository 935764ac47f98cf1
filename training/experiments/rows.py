"""The recipe study's rows, one registry: what each row fits, what it mixes, what it is paired with.

The rows themselves are described in ``clausetag experiment recipes -h``
(``clausetag.training.experiments.recipes``' docstring).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: How a row is computed. ``tfidf`` and ``probe``: fitted on the fold's training documents, their
#: thresholds on out-of-fold scores; ``tfidf-dev``, ``finetune`` and ``student``: fitted on the fold's
#: inner training documents, thresholds on its dev documents; ``ensemble``: two rows mixed.
Kind = Literal["tfidf", "probe", "tfidf-dev", "finetune", "student", "ensemble"]
#: Kinds fitted on a dev split inside the fold (``folds.default_dev_split``).
DEV_SPLIT_KINDS = ("tfidf-dev", "finetune", "student")
#: The paired table's order: context pairs, then student pairs, each cheap kinds first.
PAIRED_KIND_ORDER = ("tfidf-dev", "finetune", "student", "ensemble")


@dataclass(frozen=True)
class Row:
    name: str
    kind: Kind
    #: ``finetune``: ``clausetag train`` flags (after the study's own ``--`` flags, so they win).
    train_flags: tuple[str, ...] = ()
    #: ``probe``: the frozen encoder's pooling (``cls`` or ``mean``).
    pooling: str = ""
    #: ``tfidf-dev``: the context read as n-grams of their own.
    context: str = "none"
    #: ``tfidf`` and ``probe``: refitted with its own confident predictions (``fitters.SelfTrained``).
    self_trained: bool = False
    #: ``ensemble``: the two rows mixed, which must come before it.
    members: tuple[str, str] | None = None
    #: ``student``: the ``finetune`` row that teaches it, and the ``clausetag distill`` flags.
    teacher: str = ""
    distill_flags: tuple[str, ...] = ()
    #: The row it is compared with unit by unit (the same recipe without context, or the teacher).
    twin: str = ""
    #: Whether ``twin`` is its teacher (a student pair, listed after the context pairs).
    student: bool = False

    @property
    def dev_split(self) -> bool:
        return self.kind in DEV_SPLIT_KINDS


_MEAN = ("--pooling", "mean")

REGISTRY: tuple[Row, ...] = (
    Row("tfidf", "tfidf"),
    Row("probe-cls", "probe", pooling="cls"),
    Row("probe-mean", "probe", pooling="mean"),
    Row("ensemble", "ensemble", members=("probe-mean", "tfidf")),
    Row("tfidf-self", "tfidf", self_trained=True),
    Row("probe-mean-self", "probe", pooling="mean", self_trained=True),
    Row("ensemble-self", "ensemble", members=("probe-mean-self", "tfidf-self")),
    Row("finetune-cls", "finetune", train_flags=("--pooling", "cls")),
    Row("finetune-mean", "finetune", train_flags=_MEAN),
    Row(
        "finetune-long",
        "finetune",
        train_flags=(*_MEAN, "--num_train_epochs", "5", "--layerwise_lr_decay", "0.8"),
    ),
    Row("finetune-setfit", "finetune", train_flags=(*_MEAN, "--contrastive_pairs", "2000")),
    Row("finetune-heading", "finetune", train_flags=(*_MEAN, "--context", "heading"), twin="finetune-mean"),
    Row(
        "finetune-context",
        "finetune",
        train_flags=(*_MEAN, "--context", "heading+previous"),
        twin="finetune-mean",
    ),
    Row("tfidf-dev", "tfidf-dev"),
    Row("tfidf-dev-heading", "tfidf-dev", context="heading", twin="tfidf-dev"),
    Row("tfidf-dev-context", "tfidf-dev", context="heading+previous", twin="tfidf-dev"),
    Row("student-mean", "student", teacher="finetune-mean", twin="finetune-mean", student=True),
    Row("ensemble-ft", "ensemble", members=("finetune-mean", "tfidf-dev")),
    Row("ensemble-cls", "ensemble", members=("finetune-cls", "tfidf-dev")),
    Row("ensemble-long", "ensemble", members=("finetune-long", "tfidf-dev")),
    Row("ensemble-setfit", "ensemble", members=("finetune-setfit", "tfidf-dev")),
    Row(
        "ensemble-heading",
        "ensemble",
        members=("finetune-heading", "tfidf-dev-heading"),
        twin="ensemble-ft",
    ),
    Row(
        "ensemble-context",
        "ensemble",
        members=("finetune-context", "tfidf-dev-context"),
        twin="ensemble-ft",
    ),
    Row(
        "ensemble-student",
        "ensemble",
        members=("student-mean", "tfidf-dev"),
        twin="ensemble-ft",
        student=True,
    ),
)
ROW = {row.name: row for row in REGISTRY}
#: The row names, in study order (``--rows`` choices; the first four are its default).
ROWS = tuple(ROW)
DEFAULT_ROWS = ROWS[:4]


def paired_rows() -> list[Row]:
    """The rows with a twin, in the paired table's order."""
    paired = [row for row in REGISTRY if row.twin]
    return sorted(paired, key=lambda row: (row.student, PAIRED_KIND_ORDER.index(row.kind)))
