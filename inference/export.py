"""``clausetag export-onnx``: the safetensors model as ONNX (fp32, optionally int8).

The shipping path, in one command::

    clausetag export-onnx --model models/clausetag-me5-small --trim-vocab --quantize int8-all
    # → models/clausetag-me5-small-en-lv/ (a complete model directory) with onnx/model_int8.onnx

1. ``--trim-vocab`` (``clausetag.inference.trim``) writes a copy of the model
   that keeps only the vocabulary English and Latvian need;
2. the torch model is traced to ONNX (plain attention, so that it can be fused);
   with ``--fuse`` onnxruntime's transformer optimizer fuses attention, LayerNorm +
   residual, bias + GELU and the embedding layer (measured slower on the 2-core
   benchmark machine, so off by default; ``benchmarks/inference.py`` has both);
3. ``--quantize int8`` (or ``int8-all``) quantises the graph dynamically to int8.

Each file is checked against torch on real policy sentences before it is
written: a silently wrong ONNX file would tag every policy wrongly and fast.
With ``--trim-vocab`` every check compares with the *untrimmed* torch model, and
a failed check leaves no directory at all. The checks run the real backends
(``TorchBackend``, ``OnnxBackend``), and files appear under their final names
only through ``clausetag.io.atomic_path``, so no reader sees a half-written model.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from clausetag.errors import ClausetagError
from clausetag.inference.modeldir import ONNX_DIR, ONNX_FILES, ModelDir
from clausetag.inference.scores import sigmoid
from clausetag.io import atomic_path, human_bytes

log = logging.getLogger(__name__)

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
#: Contexts the check sentences are read in when the model reads context (one each, some
#: empty), so the parity checks cover the pair encoding too.
CHECK_CONTEXTS = (
    "5. How long do we keep data?",
    "",
    "Glabāšanas termiņi > Mēs glabājam:",
    "Jūsu tiesības | Jums ir tiesības pieprasīt piekļuvi saviem datiem.",
    "",
    "3. Recipients | We use processors to run our services.",
)
FP32_TOLERANCE = 1e-4
#: A sanity bound on the *mean* |Δp| over the check sentences and labels, not a quality
#: claim. A broken quantisation (wrong scale or axis) moves every output; a sound one moves
#: most by well under 0.01 and a few borderline ones by more, the more so the sharper the
#: model. Measured on the default e5-small model: mean 4.5e-3, max 0.12 on the check
#: sentences; over 232 seed units mean 5.3e-3, max 0.40, 99.4% of label decisions unchanged.
INT8_TOLERANCE = 0.02
#: The same kind of bound for a vocabulary-trimmed model against the untrimmed one: texts
#: whose pieces were all kept score exactly as before; the rest are split into shorter pieces.
TRIM_TOLERANCE = 0.02
DEFAULT_OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask")


def _logits_module(model: Any) -> Any:
    """Wrap the HF model so the graph has exactly two inputs and one output, "logits".

    Attention is traced in its plain ("eager") form: MatMul, Softmax, MatMul, the
    pattern onnxruntime's optimizer fuses into one ``Attention`` op (the fused SDPA
    trace is left unfused); the two agree to float rounding.
    """
    import torch

    with contextlib.suppress(AttributeError, ValueError):  # transformers < 4.48 has no setter
        model.set_attn_implementation("eager")

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
        log.warning("TorchScript export failed (%s); trying dynamo=True", exc)
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


#: ``--quantize`` choices: both write ``onnx/model_int8.onnx`` (backend ``onnx-int8``).
QUANTIZE_CHOICES = ("int8", "int8-all")


def quantize_int8(source: Path, target: Path, everything: bool = False) -> None:
    """Dynamic int8: QInt8 weights, activations quantised at run time (one scale per tensor).

    ``int8`` (default): the feed-forward output projections stay fp32, because
    their input (the GELU output) has outliers that one activation scale cannot
    hold; quantising them too doubled the flipped label decisions on the v1
    default model. Weight scales are per tensor (per-channel made the tiny test
    model 3x worse). The word-embedding lookup (plain ``Gather`` or the fused
    ``EmbedLayerNormalization``) and the fused ``Attention`` are quantised too.

    ``int8-all`` (``everything``): those projections as well, with per-channel
    weight scales, which measured better than per-tensor on e5 once they are
    included. 21 MB smaller for e5-small (12 × 1536 × 384 weights at 1 byte
    instead of 4), and less exact: see the README's inference table.
    """
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_loggers(""):  # its "consider pre-processing" hint is for static quantisation
        quantize_dynamic(
            model_input=str(source),
            model_output=str(target),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gemm", "Gather", "Attention", "EmbedLayerNormalization"],
            nodes_to_exclude=[] if everything else ffn_down_projections(source),
            per_channel=everything,
            # shape inference knows no contrib ops (fused Attention, SkipLayerNormalization)
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )


def fuse_transformer(source: Path, target: Path, config: dict[str, Any]) -> dict[str, int]:
    """onnxruntime's transformer optimizer: attention, (skip) LayerNorm, GELU and embedding fusion.

    ``opt_level=0`` keeps the result a portable graph of fused contrib ops (no
    onnxruntime constant folding baked in for one CPU); the session applies its own
    optimisations at load. Returns how many of each fused op the graph now holds.
    """
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    with _quiet_loggers("onnxruntime", "onnxruntime.transformers", ""):
        model = optimize_model(
            str(source),
            model_type="bert",
            num_heads=int(config.get("num_attention_heads") or 0),
            hidden_size=int(config.get("hidden_size") or 0),
            optimization_options=FusionOptions("bert"),
            opt_level=0,
            use_gpu=False,
        )
        model.save_model_to_file(str(target))
        stats = {k: int(v) for k, v in model.get_fused_operator_statistics().items() if v}
    log.info("fused %s: %s", source.name, stats)
    return stats


@contextlib.contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    """Hide INFO/WARNING chatter of onnxruntime's tools ("consider pre-processing", fusion counts)."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _torch_backend(model_dir: ModelDir) -> Any:
    """The real ``TorchBackend``; a truncated or corrupt weights file is one message, not a traceback."""
    from clausetag.inference.backends import TorchBackend
    from clausetag.inference.classifier import _load_failure

    try:
        return TorchBackend(model_dir)
    except ClausetagError:
        raise
    except Exception as exc:  # safetensors' and transformers' own error types
        raise ClausetagError(_load_failure(model_dir, exc) + "; nothing was written") from None


def _check_batch(model_dir: ModelDir) -> dict[str, np.ndarray]:
    """The check sentences through the directory's own tokenizer (a corrupt one is one message)."""
    from clausetag.inference.classifier import _load_failure

    try:
        tokenizer = model_dir.batch_tokenizer()
    except Exception as exc:  # tokenizers raises its own Exception type
        raise ClausetagError(_load_failure(model_dir, exc) + "; nothing was written") from None
    contexts = list(CHECK_CONTEXTS) if model_dir.context.active else None
    return tokenizer(list(CHECK_SENTENCES), contexts)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    """Scores in float64, so that the parity check measures the backends, not the rounding."""
    return sigmoid(logits, np.float64)


def _parser() -> argparse.ArgumentParser:
    from clausetag.options import add_output, add_overwrite

    parser = argparse.ArgumentParser(
        prog="clausetag export-onnx",
        description="Export a trained model directory to ONNX for torch-free inference "
        "(writes DIR/onnx/model.onnx, and DIR/onnx/model_int8.onnx with --quantize int8). "
        "With --trim-vocab, first writes a copy of the model that keeps only the vocabulary "
        "English and Latvian need (-o), and exports that. Each file is checked against the "
        "torch model before it is written.",
    )
    parser.add_argument("--model", required=True, help="model directory written by `clausetag train`")
    parser.add_argument(
        "--quantize",
        choices=QUANTIZE_CHOICES,
        help="also write a dynamic-int8 model; int8-all also quantises the feed-forward output "
        "projections (smaller, less exact)",
    )
    parser.add_argument(
        "--trim-vocab",
        action="store_true",
        help="export a copy with a trimmed EN+LV vocabulary, written to -o (see --vocab-text)",
    )
    parser.add_argument(
        "--vocab-text",
        action="append",
        type=Path,
        metavar="PATH",
        help="with --trim-vocab: texts whose pieces to keep (JSONL 'text' fields, hunspell .dic "
        "word lists, plain lines, or folders of them; repeatable). Default: the corpus's "
        "authored policies and /usr/share/hunspell/{en_US,en_GB,lv_LV}.dic where installed",
    )
    add_output(parser, "with --trim-vocab: the new model directory (default: MODEL-en-lv)")
    add_overwrite(parser, "with --trim-vocab: replace an existing output directory")
    parser.add_argument(
        "--fuse",
        dest="fuse",
        action="store_true",
        default=False,
        help="fuse the graph with onnxruntime's transformer optimizer (attention, LayerNorm, GELU) "
        "before quantising; off by default: on the 2-core benchmark machine the fused int8 "
        "graph ran 8-13%% slower than the plain one",
    )
    parser.add_argument(
        "--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})"
    )
    return parser


def _check(name: str, delta: np.ndarray, statistic: str, tolerance: float, kept: str) -> None:
    value = float(delta.max() if statistic == "max" else delta.mean())
    if value > tolerance:
        how = "at most" if statistic == "max" else "on average"
        raise ClausetagError(f"the {name} differs from torch by {value:.2e} {how} (> {tolerance}); {kept}")


def _publish(checked: Path, final: Path) -> None:
    """Copy a checked file into place through the one atomic-write helper."""
    with atomic_path(final) as staged:
        shutil.copyfile(checked, staged)


def _export_dir(
    model_dir: ModelDir,
    torch_backend: Any,
    reference: np.ndarray,
    quantize: str | None,
    opset: int,
    fuse: bool,
    trimmed: bool,
) -> dict[str, float]:
    """Write (and check) ``model_dir``'s ONNX files, traced from its ``torch_backend``;
    ``reference``: the untrimmed torch scores (for an untrimmed directory, its own)."""
    from clausetag.inference.backends import OnnxBackend

    batch = _check_batch(model_dir)
    own = _sigmoid(torch_backend.logits(batch)) if trimmed else reference
    diffs: dict[str, float] = {}
    if trimmed:
        delta = np.abs(own - reference)
        diffs["trim"] = float(delta.max())
        _check("trimmed model", delta, "mean", TRIM_TOLERANCE, "nothing was written")
    scratch = Path(tempfile.mkdtemp(prefix=".export.", dir=model_dir.path))
    try:
        raw, fp32 = scratch / "raw.onnx", scratch / "model.onnx"
        how = _export(_logits_module(torch_backend.model), batch, raw, opset)
        if fuse:
            fuse_transformer(raw, fp32, model_dir.config)
        else:
            raw.rename(fp32)
        onnx_p = _sigmoid(OnnxBackend(model_dir, path=fp32).logits(batch))
        diffs["onnx"] = float(np.abs(onnx_p - own).max())
        graph = f"ONNX export ({how}{', fused' if fuse else ''})"
        _check(graph, np.abs(onnx_p - own), "max", FP32_TOLERANCE, "nothing was written")
        _publish(fp32, model_dir.onnx_file("onnx"))
        if quantize in QUANTIZE_CHOICES:
            int8 = scratch / "model_int8.onnx"
            quantize_int8(fp32, int8, everything=quantize == "int8-all")
            delta = np.abs(_sigmoid(OnnxBackend(model_dir, path=int8).logits(batch)) - reference)
            diffs["onnx-int8"] = float(delta.max())
            kept = (
                "nothing was written"
                if trimmed
                else f"{ONNX_FILES['onnx']} was written, the int8 file was not"
            )
            _check("int8 model", delta, "mean", INT8_TOLERANCE, kept)
            _publish(int8, model_dir.onnx_file("onnx-int8"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return diffs


def default_trim_output(model: str | Path) -> Path:
    p = Path(model)
    return p.with_name(f"{p.resolve().name}-en-lv")


def export(
    model_path: str | Path,
    quantize: str | None = None,
    opset: int = DEFAULT_OPSET,
    fuse: bool = False,
    trim_to: str | Path | None = None,
    vocab_texts: list[Path] | None = None,
    overwrite: bool = False,
) -> dict[str, float]:
    """Export (and check) the model; returns the max |Δp| against torch per checked variant.

    With ``trim_to``, first writes a vocabulary-trimmed copy of the model there
    (``clausetag.inference.trim``) and exports that; every check then compares
    with the *untrimmed* torch model, and a failed check leaves no directory.
    """
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    source = ModelDir.open(model_path)
    source_backend = _torch_backend(source)  # loaded once: the reference, and the graph if untrimmed
    reference = _sigmoid(source_backend.logits(_check_batch(source)))
    if trim_to is None:
        return _export_dir(source, source_backend, reference, quantize, opset, fuse, trimmed=False)
    del source_backend  # the trimmed copy is traced from its own weights
    from clausetag.inference.trim import write_trimmed

    out = Path(trim_to)
    if out.exists() and not overwrite:
        raise ClausetagError(f"{out} exists; choose another -o/--output or pass --overwrite")
    with atomic_path(out, directory=True) as staged:
        write_trimmed(source.path, staged, vocab_texts)
        trim_dir = ModelDir.open(staged)
        backend = _torch_backend(trim_dir)
        diffs = _export_dir(trim_dir, backend, reference, quantize, opset, fuse, trimmed=True)
    return diffs


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if (args.vocab_text or args.output) and not args.trim_vocab:
        raise ClausetagError("--vocab-text and -o/--output go with --trim-vocab")
    out = (args.output or default_trim_output(args.model)) if args.trim_vocab else None
    diffs = export(args.model, args.quantize, args.opset, args.fuse, out, args.vocab_text, args.overwrite)
    target = ModelDir.open(out or args.model)
    if "trim" in diffs:
        print(f"wrote {target.path}; max |p_trimmed - p_torch| = {diffs.pop('trim'):.2e} (torch, fp32)")
    for variant, diff in diffs.items():
        path = target.onnx_file(variant)
        print(
            f"wrote {path} ({human_bytes(path.stat().st_size)}); "
            f"max |p_onnx - p_torch| = {diff:.2e} on the check sentences"
        )
    print(f"use it with: clausetag predict --model {target.path} --backend {list(diffs)[-1]} …")
    return 0


__all__ = ["ONNX_DIR", "export", "fuse_transformer", "main", "quantize_int8"]
