"""The annotated EN/LV corpus and the code that loads, checks and splits it.

``clausetag.data.corpus`` (loading, validation, splits) needs only the standard
library; ``clausetag.data.dataset`` builds ``datasets.DatasetDict`` objects and
imports ``datasets`` itself.
"""

from clausetag.data.corpus import (
    DEFAULT_CORPUS_DIR,
    CorpusUnit,
    document_groups,
    label_matrix,
    leave_one_document_out,
    load_units,
    real_documents,
    split_by_document,
    validate_units,
)

__all__ = [
    "DEFAULT_CORPUS_DIR",
    "CorpusUnit",
    "document_groups",
    "label_matrix",
    "leave_one_document_out",
    "load_units",
    "real_documents",
    "split_by_document",
    "validate_units",
]
