"""The Trainer of ``clausetag train``: a loss for rare labels, dev metrics, in-memory scoring."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from transformers import Trainer

from clausetag.data.corpus import CorpusUnit
from clausetag.inference.context import CONFIG_KEY as CONTEXT_KEY
from clausetag.inference.context import ContextRecipe
from clausetag.inference.scores import sigmoid
from clausetag.inference.tokenization import BatchTokenizer
from clausetag.training.metrics import macro_f1, micro_f1
from clausetag.training.thresholds import choose_thresholds

if TYPE_CHECKING:
    from clausetag.training.args import ClausetagTrainingArguments


class MultiLabelTrainer(Trainer):
    """Trainer whose loss is chosen for rare labels (class-weighted BCE or focal).

    Every setting comes from ``self.args`` (``ClausetagTrainingArguments``: ``loss``,
    ``focal_gamma``, ``head_lr_multiplier``, ``layerwise_lr_decay``); ``pos_weight`` is
    the one thing it is given besides, as it is computed from the training labels.
    """

    args: ClausetagTrainingArguments

    def __init__(self, *args: Any, pos_weight: torch.Tensor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pos_weight = pos_weight

    def create_optimizer(self, model: Any = None) -> Any:
        """AdamW with a faster learning rate for the random head than for the pretrained body.

        With the encoder's small learning rate alone the head barely moves in a
        few CPU epochs and every dev prediction stays under threshold. With
        ``layerwise_lr_decay`` < 1 each encoder layer learns at that factor of the
        one above it (the embeddings slowest), so the lower, more general layers move least.
        """
        if self.optimizer is None:
            model = model if model is not None else self.model
            decay = set(self.get_decay_parameter_names(model))
            prefix = getattr(model, "base_model_prefix", "") + "."
            n_layers = int(getattr(model.config, "num_hidden_layers", 0))
            groups: dict[tuple[float, bool], list[torch.nn.Parameter]] = {}
            for name, param in model.named_parameters():
                if param.requires_grad:
                    head = not name.startswith(prefix)  # the classifier; the pooler is pretrained-side
                    depth = layer_depth(name, n_layers)
                    scale = self.args.head_lr_multiplier if head else self.args.layerwise_lr_decay**depth
                    groups.setdefault((scale, name in decay), []).append(param)
            lr = self.args.learning_rate
            self.optimizer = torch.optim.AdamW(
                [
                    {
                        "params": params,
                        "lr": lr * scale,
                        "weight_decay": self.args.weight_decay if decays else 0.0,
                    }
                    for (scale, decays), params in groups.items()
                ],
                lr=lr,
            )
        return self.optimizer

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        labels = inputs.pop("labels").float()
        outputs = model(**inputs)
        logits = outputs.logits.float()
        if self.args.loss == "focal":
            bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
            p_t = torch.exp(-bce)
            loss = ((1 - p_t) ** self.args.focal_gamma * bce).mean()
        else:
            weight = self.pos_weight.to(logits.device) if self.args.loss == "weighted_bce" else None
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, pos_weight=weight)
        return (loss, outputs) if return_outputs else loss


def layer_depth(name: str, n_layers: int) -> int:
    """How many layers below the top a parameter sits: 0 for the top layer and the pooler,
    ``n_layers`` for the embeddings (BERT/RoBERTa parameter names)."""
    match = re.search(r"\.layer\.(\d+)\.", name)
    if match:
        return max(n_layers - 1 - int(match.group(1)), 0)
    return n_layers if ".embeddings." in name else 0


def positive_weights(y: np.ndarray, cap: float) -> torch.Tensor:
    """neg/pos per label, square-rooted and capped: boosts rare labels without swamping precision."""
    pos = y.sum(0)
    neg = len(y) - pos
    weight = np.sqrt(np.where(pos > 0, neg / np.maximum(pos, 1), 1.0))
    return torch.tensor(np.clip(weight, 1.0, cap), dtype=torch.float32)


def dev_metrics(policy: str) -> Any:
    """Dev F1 at the thresholds ``policy`` picks, as the saved model will be used."""

    def compute(eval_pred: Any) -> dict[str, float]:
        logits, y = eval_pred
        proba = sigmoid(np.asarray(logits))
        y = np.asarray(y) > 0.5
        pred = proba >= choose_thresholds(policy, y, proba)
        return {"macro_f1": macro_f1(y, pred), "micro_f1": micro_f1(y, pred)}

    return compute


def batched_forward(
    units: Sequence[CorpusUnit],
    tokenizer: Any,
    max_length: int,
    fn: Any,
    width: int,
    config: Any,
    batch: int = 64,
) -> np.ndarray:
    """Run ``fn(encoding) -> (batch, width)`` over length-sorted batches, rows back in input order.

    One process (Trainer.predict pads and gathers under DDP), no gradients. ``config``: the
    model's, for its input prefix and context recipe.
    """
    out = np.zeros((len(units), width), dtype=np.float32)
    order = sorted(range(len(units)), key=lambda i: len(units[i]["text"]))
    with torch.inference_mode():
        for k in range(0, len(order), batch):
            idx = order[k : k + batch]
            out[idx] = fn(encode_units(tokenizer, units, idx, max_length, config)).float().cpu().numpy()
    return out


def context_recipe(config: Any) -> ContextRecipe:
    """The context recipe a (pretrained or trained) model's config records."""
    return ContextRecipe.from_config({CONTEXT_KEY: getattr(config, CONTEXT_KEY, None)})


@functools.lru_cache(maxsize=4)
def _unit_tokenizer(tokenizer: Any, max_length: int, prefix: str, context_tokens: int) -> BatchTokenizer:
    return BatchTokenizer(tokenizer.backend_tokenizer, max_length, prefix, context_tokens)


def unit_tokenizer(tokenizer: Any, max_length: int, config: Any) -> BatchTokenizer:
    """Inference's own ``BatchTokenizer`` over a transformers fast tokenizer, with the model's
    prefix and context budget: training encodes every unit exactly as inference will."""
    recipe = context_recipe(config)
    budget = recipe.max_tokens if recipe.active else 0
    return _unit_tokenizer(tokenizer, max_length, str(getattr(config, "text_prefix", "") or ""), budget)


def unit_contexts(units: Sequence[CorpusUnit]) -> list[str]:
    """The rendered contexts training attached to the units (``_context``; "" where none)."""
    return [str(u.get("_context", "")) for u in units]


def encode_units(
    tokenizer: Any, units: Sequence[CorpusUnit], idx: Sequence[int], max_length: int, config: Any
) -> Any:
    """The units at ``idx``, with their contexts, truncated and padded into one batch of torch tensors."""
    from transformers import BatchEncoding

    chosen = [units[i] for i in idx]
    batch = unit_tokenizer(tokenizer, max_length, config)([u["text"] for u in chosen], unit_contexts(chosen))
    return BatchEncoding(dict(batch), tensor_type="pt")


def predict_proba(model: Any, tokenizer: Any, units: Sequence[CorpusUnit], max_length: int) -> np.ndarray:
    """Scores of the in-memory model (rank 0 only)."""
    return sigmoid(predict_logits(model, tokenizer, units, max_length))


def predict_logits(model: Any, tokenizer: Any, units: Sequence[CorpusUnit], max_length: int) -> np.ndarray:
    """Logits of the in-memory model, rows in input order (rank 0 only)."""
    return batched_forward(
        units,
        tokenizer,
        max_length,
        lambda enc: model(**enc.to(model.device)).logits,
        model.config.num_labels,
        model.config,
    )
