"""The config of clausetag's mean-pooling head, apart from its model class.

``AutoConfig`` needs only this (no model code), so ``import clausetag`` can make
``AutoConfig.from_pretrained(DIR)`` read a clausetag model directory without loading
any modeling code (``clausetag.transformers_hook``). Importing this module registers it.
The model class, which reads the masked mean instead of ``[CLS]``, is in
``clausetag.models.modeling``.
"""

from __future__ import annotations

from typing import Any

from transformers import BertConfig

from clausetag.models.e5 import E5_PREFIX

#: ``config.json``'s ``model_type`` of a mean-pooling model: its own, so that a library that
#: does not know it refuses the folder instead of silently reading ``[CLS]``.
MODEL_TYPE = "clausetag-bert-mean"


class BertMeanPoolConfig(BertConfig):
    model_type = MODEL_TYPE

    def __init__(self, text_prefix: str = E5_PREFIX, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.text_prefix = text_prefix
        self.pooling = "mean"


def register() -> None:
    """Make ``AutoConfig`` read ``model_type: clausetag-bert-mean`` (idempotent)."""
    from transformers import AutoConfig

    AutoConfig.register(MODEL_TYPE, BertMeanPoolConfig, exist_ok=True)


register()
