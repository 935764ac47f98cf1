"""Turn corpus units into ``datasets`` objects for the Trainer.

``labels`` is a ``List(ClassLabel)`` column (real names, browsable in the
datasets viewer) and ``multi_hot`` the float vector that BCE needs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from datasets import ClassLabel, Dataset, DatasetDict, Features, List, Value

from clausetag.data.corpus import CorpusUnit, label_matrix


def features_for(labels: Sequence[str]) -> Features:
    return Features(
        {
            "id": Value("string"),
            "doc": Value("string"),
            "lang": Value("string"),
            "source": Value("string"),
            "text": Value("string"),
            "labels": List(ClassLabel(names=list(labels))),
            "multi_hot": List(Value("float32")),
        }
    )


def _as_string(value: Any) -> str:
    """A ``source`` column value: a researcher's own ``source`` may be any JSON value."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def to_dataset(units: Sequence[CorpusUnit], labels: Sequence[str]) -> Dataset:
    y = label_matrix(units, labels)  # refuses unknown labels by name before anything is built
    index = {name: i for i, name in enumerate(labels)}
    rows = {
        "id": [u["id"] for u in units],
        "doc": [u["doc"] for u in units],
        "lang": [u["lang"] for u in units],
        "source": [_as_string(u.get("source", "seed")) for u in units],
        "text": [u["text"] for u in units],
        "labels": [[index[x] for x in u["labels"]] for u in units],
        "multi_hot": y.astype("float32").tolist(),
    }
    return Dataset.from_dict(rows, features=features_for(labels))


def to_dataset_dict(splits: Mapping[str, Sequence[CorpusUnit]], labels: Sequence[str]) -> DatasetDict:
    return DatasetDict({name: to_dataset(units, labels) for name, units in splits.items()})
