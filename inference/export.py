"""``clausetag export-onnx``: the safetensors model as ONNX (fp32, optionally int8).

The export is checked against torch on real policy sentences before it replaces
anything: a silently wrong ONNX file would tag every policy wrongly and fast.
Files appear under their final names only by rename, so the ONNX backend never
sees a half-written model.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from clausetag.errors import ClausetagError
from clausetag.inference.modeldir import ONNX_DIR, ModelDir
from clausetag.inference.tokenize import BatchTokenizer

#: Parity sentences: both languages, short and long, so padding is exercised too.
CHECK_SENTENCES = (
    "We keep your invoices for five years, as the Accounting Law requires.",
    "You can withdraw your consent at any time by writing to privacy@example.com.",
    "Personas datus glabājam ne ilgāk kā 3 gadus pēc līguma izbeigšanas.",
    "Jums ir tiesības iesniegt sūdzību Datu valsts inspekcijā (www.dvi.gov.lv).",
    "Privacy policy",
    "We share data with processors in the EU/EEA, e.g. hosting and payment providers; "
    "where data leaves the EEA we rely on the Commission's standard contractual clauses "
    "under Art. 46(2)(c) GDPR, a copy of which you can request from us at any time.",
)
FP32_TOLERANCE = 1e-4
#: A sanity bound on the *mean* |Δp| over the check sentences and labels, not a quality
#: claim. A broken quantisation (wrong scale or axis) moves every output; a sound one moves
#: most by well under 0.01 and a few borderline ones by more, the more so the sharper the
#: model. Measured on the default e5-small model: mean 4.5e-3, max 0.12 on the check
#: sentences; over 232 seed units mean 5.3e-3, max 0.40, 99.4% of label decisions unchanged.
INT8_TOLERANCE = 0.02
DEFAULT_OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask")


@contextlib.contextmanager
def staged_file(final: Path) -> Iterator[Path]:
    """A temporary path beside ``final``, renamed onto it only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=".onnx.tmp", dir=final.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide the model from other users
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _logits_module(model: Any) -> Any:
    """Wrap the HF model so the graph has exactly two inputs and one output, "logits"."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    return LogitsOnly(model).eval()


def _export(module: Any, sample: dict[str, np.ndarray], path: Path, opset: int) -> str:
    """TorchScript exporter first (small, plain graphs); the dynamo exporter if it fails."""
    import torch

    args = tuple(torch.from_numpy(sample[name]) for name in INPUT_NAMES)
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
    axes["logits"] = {0: "batch"}
    common: dict[str, Any] = {"input_names": list(INPUT_NAMES), "output_names": ["logits"]}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, args, str(path), dynamic_axes=axes, opset_version=opset, dynamo=False, **common
            )
        return "torchscript"
    except Exception as exc:  # the legacy exporter may be missing or refuse an op
        print(f"clausetag: TorchScript export failed ({exc}); trying dynamo=True", file=sys.stderr)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    shapes = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}}
    program = torch.onnx.export(
        module,
        args,
        dynamic_shapes=shapes,
        opset_version=max(opset, 18),
        dynamo=True,
        external_data=False,
        **common,
    )
    if program is None:
        raise ClausetagError("torch.onnx.export(dynamo=True) returned no program")
    program.save(str(path), external_data=False)
    return "dynamo"


def onnx_probabilities(path: Path, batch: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {i.name: batch[i.name] for i in session.get_inputs()}
    (logits,) = session.run(["logits"], feed)
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def torch_probabilities(model: Any, batch: dict[str, np.ndarray]) -> np.ndarray:
    import torch

    with torch.inference_mode():
        logits = model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits
    return 1.0 / (1.0 + np.exp(-logits.double().numpy()))


def ffn_down_projections(path: Path) -> list[str]:
    """MatMuls whose constant weight narrows (k > n): the feed-forward output projections.

    Found by weight shape, not node name, so it holds for either exporter's naming.
    """
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    shapes = {t.name: tuple(t.dims) for t in graph.initializer}
    out = []
    for node in graph.node:
        dims = shapes.get(node.input[1]) if node.op_type == "MatMul" and len(node.input) > 1 else None
        if dims is not None and len(dims) == 2 and dims[0] > dims[1]:
            out.append(node.name)
    return out


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8: QInt8 weights (one scale per tensor), activations quantised at run time.

    Measured on a multilingual-e5-small classifier, 926 seed units, against fp32:
    the feed-forward output projections stay fp32, because their input (the GELU
    output) has outliers that one activation scale cannot hold; quantising them
    too doubled the flipped label decisions. The word-embedding Gather is
    quantised: 470 -> 140 MB on disk and no measurable change in any output (it is
    a lookup). Per-channel weight scales helped e5 slightly but made the tiny
    test model 3x worse, so the simpler per-tensor scheme stays.
    """
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its "consider pre-processing" hint is for static quantisation
    try:
        quantize_dynamic(
            model_input=str(source),
            model_output=str(target),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gemm", "Gather"],
            nodes_to_exclude=ffn_down_projections(source),
        )
    finally:
        root.setLevel(level)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clausetag export-onnx",
        description="Export a trained model directory to ONNX for torch-free inference "
        "(writes DIR/onnx/model.onnx, and DIR/onnx/model_int8.onnx with --quantize int8).",
    )
    parser.add_argument("--model", required=True, help="model directory written by `clausetag train`")
    parser.add_argument("--quantize", choices=("int8",), help="also write a dynamic-int8 model")
    parser.add_argument(
        "--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})"
    )
    return parser


def export(
    model_path: str | Path, quantize: str | None = None, opset: int = DEFAULT_OPSET
) -> dict[str, float]:
    """Export (and check) the model; returns the max abs probability difference per variant."""
    from transformers.utils import logging as hf_logging

    from clausetag.inference.backends import TorchBackend

    hf_logging.disable_progress_bar()
    model_dir = ModelDir.open(model_path)
    model = TorchBackend(model_dir).model
    batch = BatchTokenizer(model_dir.path / "tokenizer.json", model_dir.max_length, model_dir.text_prefix)(
        list(CHECK_SENTENCES)
    )
    reference = torch_probabilities(model, batch)
    diffs: dict[str, float] = {}
    fp32 = model_dir.onnx_file("onnx")
    with staged_file(fp32) as tmp:
        how = _export(_logits_module(model), batch, tmp, opset)
        diffs["onnx"] = float(np.abs(onnx_probabilities(tmp, batch) - reference).max())
        if diffs["onnx"] > FP32_TOLERANCE:
            raise ClausetagError(
                f"the ONNX export ({how}) differs from torch by {diffs['onnx']:.2e} "
                f"(> {FP32_TOLERANCE}); nothing was written"
            )
    if quantize == "int8":
        with staged_file(model_dir.onnx_file("onnx-int8")) as tmp:
            quantize_int8(fp32, tmp)
            delta = np.abs(onnx_probabilities(tmp, batch) - reference)
            diffs["onnx-int8"] = float(delta.max())
            if delta.mean() > INT8_TOLERANCE:
                raise ClausetagError(
                    f"the int8 model differs from torch by {delta.mean():.2e} on average "
                    f"(> {INT8_TOLERANCE}); {fp32.name} was written, the int8 file was not"
                )
    return diffs


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    diffs = export(args.model, args.quantize, args.opset)
    for variant, diff in diffs.items():
        path = ModelDir.open(args.model).onnx_file(variant)
        size = path.stat().st_size / 1e6
        print(f"wrote {path} ({size:.1f} MB); max |p_onnx - p_torch| = {diff:.2e} on the check sentences")
    print(f"use it with: clausetag predict --model {args.model} --backend {list(diffs)[-1]} …")
    return 0


__all__ = ["ONNX_DIR", "export", "main", "quantize_int8"]
