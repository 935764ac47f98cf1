"""Mean pooling for BERT-style encoders: E5's own sentence embedding, with a classification head.

multilingual-e5 was trained on *mean-pooled* token vectors of inputs that start
with ``"query: "``; its ``[CLS]`` vectors are nearly identical across sentences
(cosine ≈ 0.9). ``BertMeanPoolForSequenceClassification`` keeps the layout and
weight names of ``BertForSequenceClassification`` (``bert.*``, ``classifier.*``;
the pooler's dense + tanh now read the mean vector instead of ``[CLS]``), so an
E5 checkpoint loads into it unchanged and the saved model is plain safetensors.

Its config (``clausetag.models.configuration``) has its own ``model_type``
(``clausetag-bert-mean``) so that a library that does not know it refuses the
folder instead of silently reading ``[CLS]``. Importing this module registers
both with transformers' Auto classes; ``import clausetag`` arranges that for any
program (``clausetag.transformers_hook``: as soon as transformers' Auto classes
are imported), so no import of this module is needed to load a model directory::

    import clausetag
    from transformers import pipeline
    pipe = pipeline("text-classification", model="models/clausetag-me5-small", top_k=None)

The config also records ``text_prefix``: the string put before every input
(the ONNX path and ``ClauseClassifier`` read it from ``config.json``).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoModelForSequenceClassification, BertForSequenceClassification
from transformers.modeling_outputs import SequenceClassifierOutput

from clausetag.models.configuration import MODEL_TYPE, BertMeanPoolConfig
from clausetag.models.configuration import register as register_config


class BertMeanPoolForSequenceClassification(BertForSequenceClassification):
    """``BertForSequenceClassification`` whose head reads the masked mean of the last layer."""

    config_class = BertMeanPoolConfig

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput:
        if attention_mask is None:
            assert input_ids is not None
            attention_mask = torch.ones_like(input_ids)
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        pooled = self.pool(hidden, attention_mask)
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Masked mean of the token vectors, through the (probe-initialised) dense + tanh."""
        pooler = self.bert.pooler
        assert pooler is not None  # BertForSequenceClassification always builds it
        return pooler.activation(pooler.dense(mean_pool(hidden, attention_mask)))


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def register() -> None:
    """Make ``AutoConfig`` and ``AutoModelForSequenceClassification`` read a mean-pooling model."""
    register_config()
    AutoModelForSequenceClassification.register(
        BertMeanPoolConfig, BertMeanPoolForSequenceClassification, exist_ok=True
    )


register()

__all__ = [
    "MODEL_TYPE",
    "BertMeanPoolConfig",
    "BertMeanPoolForSequenceClassification",
    "mean_pool",
    "register",
]
