"""The ``clausetag`` command: a thin dispatcher over the sub-commands.

Each sub-command lives in the module that owns its work and is imported only
when called, so ``clausetag predict`` never loads the training stack and a
missing optional extra becomes an install hint instead of a traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
from collections.abc import Callable, Iterator, Sequence

from clausetag import __version__
from clausetag.errors import ClausetagError
from clausetag.terminal import printable, terminal_safe_streams

# name -> (module, function, extra that provides its dependencies, one-line help)
COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "encoder": ("clausetag.models.encoder", "main", "train", "build the offline encoder folder"),
    "data": ("clausetag.data.cli", "main", "", "validate, count and import corpora"),
    "train": ("clausetag.training.train", "main", "train", "fine-tune a clause classifier"),
    "distill": ("clausetag.training.distill", "main", "train", "a smaller, faster student of a model"),
    "evaluate": ("clausetag.training.evaluation", "main", "train", "score a model on a JSONL"),
    "baseline": ("clausetag.training.baseline", "main", "train", "TF-IDF + logistic regression"),
    "experiment": (
        "clausetag.training.experiments",
        "main",
        "train",
        "leave-one-document-out and cross-lingual runs",
    ),
    "predict": ("clausetag.inference.cli", "predict_main", "", "tag policies or JSONL units"),
    "report": ("clausetag.inference.cli", "report_main", "", "GDPR Art. 13 coverage report"),
    "annotate": (
        "clausetag.inference.annotate",
        "main",
        "",
        "pre-annotated tasks for Label Studio, doccano or Argilla",
    ),
    "export-onnx": ("clausetag.inference.export", "main", "export", "write onnx/model.onnx"),
    "push-to-hub": ("clausetag.inference.hub", "main", "hub", "upload a model directory to the HF Hub"),
    "serve": ("clausetag.inference.service.server", "serve_main", "serve", "HTTP service and web page"),
}

# Third-party modules whose absence means "install an extra", mapped to that extra.
_EXTRA_OF_MODULE = {
    "torch": "torch",
    "transformers": "torch",
    "safetensors": "torch",
    "datasets": "train",
    "sklearn": "train",
    "evaluate": "train",
    "accelerate": "train",
    "matplotlib": "train",
    "yaml": "train",
    "onnxruntime": "onnx",
    "onnx": "export",
    "onnxscript": "export",
    "selectolax": "html",
    "huggingface_hub": "hub",
    "fastapi": "serve",
    "starlette": "serve",
    "uvicorn": "serve",
    "multipart": "serve",
    "python_multipart": "serve",
    "spacy": "spacy",
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        f"clausetag {__version__}: GDPR clause tagging for EN/LV privacy policies",
        "",
        "usage: clausetag <command> [options]   (clausetag <command> -h for details)",
        "",
        "commands:",
    ]
    lines += [f"  {name.ljust(width)}  {spec[3]}" for name, spec in COMMANDS.items()]
    return "\n".join(lines)


def missing_extra_message(exc: ModuleNotFoundError, default_extra: str = "") -> str:
    """Turn a missing optional dependency into the pip command that fixes it."""
    top = (exc.name or "").split(".")[0]
    extra = _EXTRA_OF_MODULE.get(top, default_extra)
    hint = f"pip install 'clausetag[{extra}]'" if extra else f"pip install {top}"
    return f"this needs the Python package '{top}', which is not installed: {hint}"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (pytest's capsys swaps it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("clausetag: %(message)s"))

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


@contextlib.contextmanager
def command_logging() -> Iterator[None]:
    """While a command runs, the library's log records (``clausetag.*``, INFO and up) go to stderr.

    Library code logs; only the command line decides where it goes, so an
    embedding application keeps its own logging configuration.
    """
    logger = logging.getLogger("clausetag")
    if any(isinstance(h, _StderrHandler) for h in logger.handlers):
        yield
        return
    handler = _StderrHandler()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def run(func: Callable[[list[str]], int | None], argv: list[str], extra: str = "") -> int:
    """Run a command function and map user errors to a message and exit status 2.

    The message is neutralised (``clausetag.terminal``): it may quote policy text or
    a file name. While the command runs, terminal streams neutralise all they get.
    """
    try:
        with command_logging(), terminal_safe_streams():
            return int(func(argv) or 0)
    except ClausetagError as exc:
        print(f"clausetag: error: {printable(str(exc))}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in _EXTRA_OF_MODULE:
            print(f"clausetag: error: {missing_extra_message(exc, extra)}", file=sys.stderr)
            return 2
        raise
    except KeyboardInterrupt:
        print("clausetag: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0 if args else 2
    if args[0] in {"-V", "--version"}:
        print(f"clausetag {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"clausetag: error: unknown command '{printable(name)}'\n\n{_usage()}", file=sys.stderr)
        return 2
    module, funcname, extra, _ = COMMANDS[name]

    def call(argv2: list[str]) -> int | None:
        func = getattr(importlib.import_module(module), funcname)
        return func(argv2)

    return run(call, rest, extra)


if __name__ == "__main__":  # `python -m clausetag.cli`; `python -m clausetag` is clausetag/__main__.py
    sys.exit(main())
