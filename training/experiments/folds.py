"""How the experiments split a corpus: held-out documents, the dev units inside a fold, inner folds.

A document is always held out with its translation, and authored policies always train.
The two harnesses choose a fold's dev units by different rules, each kept as it was so
their figures stay comparable with the ones already published.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from clausetag.data.corpus import (
    CorpusUnit,
    authored_documents,
    document_groups,
    leave_one_document_out,
    real_documents,
    split_by_document,
)
from clausetag.errors import ClausetagError
from clausetag.training.experiments.fitters import Fitter

HeldOut = tuple[str, list[CorpusUnit], list[CorpusUnit]]  # held-out document, train, test


def held_out_folds(units: Sequence[CorpusUnit], only: Sequence[str] | None = None) -> Iterator[HeldOut]:
    """Leave-one-document-out over the real documents; ``only``: just these held-out documents."""
    for doc, train, test in leave_one_document_out(units):
        if only is None or doc in only:
            yield doc, train, test


def one_real_document_dev(
    train: Sequence[CorpusUnit], fold_index: int
) -> tuple[list[CorpusUnit], list[CorpusUnit]]:
    """One real document of ``train`` (with its translation), a different one each fold, as dev.

    ``experiment lodo``'s rule: its folds pick the epoch and thresholds on a policy as
    real as the held-out one, the way a single train/dev/test split of the corpus does.
    """
    groups = document_groups(train)
    real = real_documents(train, groups)
    if len(real) < 2:
        raise ClausetagError("need at least three real documents for leave-one-document-out")
    dev_doc = real[fold_index % len(real)]
    dev_idx = set(groups[dev_doc])
    return [u for i, u in enumerate(train) if i not in dev_idx], [train[i] for i in sorted(dev_idx)]


def default_dev_split(
    train: Sequence[CorpusUnit], seed: int = 42
) -> tuple[list[CorpusUnit], list[CorpusUnit]]:
    """``clausetag train``'s default dev split (a share of the authored policies), inside a fold.

    ``experiment recipes``' rule for its rows fitted on a dev split (fine-tuned, student and
    ``tfidf-dev`` rows): each fold is trained as ``clausetag train`` would train the shipped model.
    """
    parts = split_by_document(train, seed=seed)
    return parts["train"], parts["dev"]


def first_document(units: Sequence[CorpusUnit]) -> np.ndarray:
    """Mask of the first real document's units (v1 tuned thresholds on one such document)."""
    groups = document_groups(units)
    real = real_documents(units, groups) or sorted(groups)
    mask = np.zeros(len(units), dtype=bool)
    mask[groups[real[0]]] = True
    return mask


# --- out-of-fold predictions inside the training documents ---------------------------------------


def document_folds(units: Sequence[CorpusUnit], k: int = 4, seed: int = 42) -> list[list[int]]:
    """``k`` groups of unit indices, whole documents (with translations) per group."""
    groups = document_groups(units)
    docs = sorted(groups)
    np.random.default_rng(seed).shuffle(docs)
    folds: list[list[int]] = [[] for _ in range(min(k, len(docs)))]
    for n, d in enumerate(sorted(docs, key=lambda d: -len(groups[d]))):  # big documents spread first
        folds[n % len(folds)].extend(groups[d])
    return folds


def out_of_fold(train: Sequence[CorpusUnit], labels: Sequence[str], fit: Fitter, k: int) -> np.ndarray:
    """Each training unit's scores by ``fit`` on the other ``k`` − 1 document folds (no dev units)."""
    proba = np.zeros((len(train), len(labels)))
    for idx in document_folds(train, k):
        held = set(idx)
        rest = [u for i, u in enumerate(train) if i not in held]
        proba[idx] = fit(rest, (), [train[i] for i in idx], labels).test
    return proba


# --- learning curves -----------------------------------------------------------------------------

V1_CHECKLIST_DOC = "authored"  # the v1 checklist sentences' document


def keep_authored(units: Sequence[CorpusUnit], n: int) -> list[CorpusUnit]:
    """The corpus with only the first ``n`` authored policies, oldest first — for learning curves.

    The 140 v1 checklist units (document ``authored``, the oldest) count as the first of them, then
    the policies by id, so ``n`` = 46 is corpus v2 and each step after it adds the v3 policies in order.
    """
    groups = document_groups(units)
    authored = sorted(authored_documents(units, groups), key=lambda d: (d != V1_CHECKLIST_DOC, d))
    keep = set(authored[:n])
    drop = {i for d in authored if d not in keep for i in groups[d]}
    return [u for i, u in enumerate(units) if i not in drop]
