"""A tiny random encoder with a tokenizer trained on the fly, for tests and demos.

It exercises exactly the code paths of the real encoder (AutoModel loading,
Trainer, save, reload, ONNX export) in seconds and without any download.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def build_tiny_encoder(
    out_dir: str | Path,
    texts: Iterable[str],
    vocab_size: int = 800,
    hidden_size: int = 32,
    layers: int = 2,
    seed: int = 0,
    tokenizer: str = "wordpiece",
) -> Path:
    """Write a pretrained-style folder (BertModel + fast tokenizer) to ``out_dir``.

    ``tokenizer="unigram"``: a SentencePiece-style Unigram tokenizer with XLM-R's
    special tokens (``<s>``, ``<pad>``, ``</s>``, ``<unk>``, ``<mask>``), the kind
    multilingual-e5 uses and ``export-onnx --trim-vocab`` trims.
    """
    import torch
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if tokenizer == "unigram":
        specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        tok.train_from_iterator(
            list(texts),
            trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>"),
        )
        names = {"cls": "<s>", "pad": "<pad>", "sep": "</s>", "unk": "<unk>", "mask": "<mask>"}
    else:
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        tok.train_from_iterator(
            list(texts), trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials)
        )
        names = dict(zip(("pad", "unk", "cls", "sep", "mask"), specials, strict=True))
    cls, sep = names["cls"], names["sep"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=f"{cls} $A {sep} $B:1 {sep}:1",
        special_tokens=[(cls, tok.token_to_id(cls)), (sep, tok.token_to_id(sep))],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token=names["unk"],
        pad_token=names["pad"],
        cls_token=cls,
        sep_token=sep,
        mask_token=names["mask"],
        model_max_length=512,
    )
    fast.save_pretrained(out)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=512,
        pad_token_id=tok.token_to_id(names["pad"]),
    )
    BertModel(config).save_pretrained(out)
    return out
