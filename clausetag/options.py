"""One option vocabulary for every command, in the manner of spaCy's shared ``Arg``/``Opt``.

Every command that writes a file or folder takes ``-o/--output``; every command
that refuses to replace one takes ``--overwrite``; backends come from one list;
batch sizes are whole numbers of at least 1. Earlier spellings (``--out``,
``--output_dir``, ``--force``, ``--batch_size``, snake_case names) stay as hidden aliases, so
existing scripts keep working, but ``--help`` shows one name per option.
``clausetag train`` keeps transformers' ``TrainingArguments`` names and adds
``-o/--output`` as an alias of ``--output_dir`` (see ``clausetag.training.args``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

#: Old spellings of ``-o/--output`` that still parse (hidden from ``--help``).
OUTPUT_ALIASES = ("--out", "--output_dir")
#: Old spellings of ``--overwrite``.
OVERWRITE_ALIASES = ("--force",)
#: Old spellings of ``--batch-size``.
BATCH_SIZE_ALIASES = ("--batch_size",)


def positive_int(value: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def probability(value: str) -> float:
    """argparse type: a number in [0, 1]."""
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], not {value!r}") from None
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], not {x}")
    return x


def _hidden(parser: Any, flags: tuple[str, ...], dest: str, **kwargs: Any) -> None:
    """Old spellings of an option: they parse into ``dest`` but ``--help`` does not list them."""
    for flag in flags:
        parser.add_argument(flag, dest=dest, help=argparse.SUPPRESS, **kwargs)


def add_option(parser: Any, flag: str, *old: str, **kwargs: Any) -> None:
    """``flag`` (kebab-case, listed by ``--help``) with earlier spellings ``old`` parsing into it, hidden."""
    dest = kwargs.pop("dest", flag.lstrip("-").replace("-", "_"))
    parser.add_argument(flag, dest=dest, **kwargs)
    hidden = {k: v for k, v in kwargs.items() if k not in ("help", "required", "default", "metavar")}
    _hidden(parser, old, dest, **hidden)


def add_output(
    parser: argparse.ArgumentParser,
    help: str,
    *,
    required: bool = False,
    type: Any = str,
    metavar: str = "PATH",
) -> None:
    """``-o/--output`` (the old ``--out``/``--output_dir`` hidden); ``args.output``."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("-o", "--output", dest="output", type=type, metavar=metavar, help=help)
    _hidden(group, OUTPUT_ALIASES, "output", type=type)


def add_overwrite(parser: argparse.ArgumentParser, help: str = "replace an existing output") -> None:
    """``--overwrite`` (the old ``--force`` hidden); ``args.overwrite``."""
    parser.add_argument("--overwrite", action="store_true", help=help)
    _hidden(parser, OVERWRITE_ALIASES, "overwrite", action="store_true")


def add_backend(parser: argparse.ArgumentParser, default: str = "torch") -> None:
    """``--backend`` with the inference backends' one list of choices."""
    from clausetag.inference.backends import BACKENDS

    parser.add_argument(
        "--backend", choices=BACKENDS, default=default, help=f"inference runtime (default {default})"
    )


def add_batch_size(parser: argparse.ArgumentParser, default: int = 32) -> None:
    """``--batch-size`` (the old ``--batch_size`` hidden), a whole number of at least 1."""
    parser.add_argument(
        "--batch-size",
        dest="batch_size",
        type=positive_int,
        default=default,
        help=f"units per forward pass (default {default})",
    )
    _hidden(parser, BATCH_SIZE_ALIASES, "batch_size", type=positive_int)


def add_labels(parser: argparse.ArgumentParser) -> None:
    """``--labels FILE``: another label scheme than the data's ``labels.json`` or the default."""
    parser.add_argument(
        "--labels", type=Path, default=None, help="label list (JSON array or one label per line)"
    )
