"""One option vocabulary: every sub-command's parser, walked, against one set of rules.

Options are kebab-case (``--batch-size``), except ``train`` and ``distill``, which keep
transformers' ``TrainingArguments`` names (``--output_dir``, ``--num_train_epochs``); earlier
spellings parse as hidden aliases but ``--help`` lists one name per option. The same name means
the same thing everywhere, and the README, the Makefile and the docs use only listed names.
"""

from __future__ import annotations

import argparse
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from clausetag.cli import COMMANDS
from clausetag.training.thresholds import TRAIN_POLICIES

REPO = Path(__file__).resolve().parents[1]
#: Commands whose options are transformers' (HfArgumentParser dataclasses).
TRANSFORMERS_NAMES = {"train", "distill"}
KEBAB = re.compile(r"-[a-zA-Z]|--[a-z0-9]+(-[a-z0-9]+)*")


class _Parsed(BaseException):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


#: Sub-commands that hand their arguments to a parser of their own: (command, first argument).
DISPATCHED = [("experiment", "recipes")]


def _parser_of(
    name: str, monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...] = ()
) -> argparse.ArgumentParser:
    """The parser a sub-command builds, caught when it starts parsing (nothing else runs)."""

    def caught(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        raise _Parsed(self)

    module, func, _, _ = COMMANDS[name]
    with monkeypatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_known_args", caught)
        try:
            getattr(importlib.import_module(module), func)(list(argv))
        except _Parsed as got:
            return got.parser
    raise AssertionError(f"clausetag {name} parsed no arguments")


def _walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                yield from _walk(child, (*path, sub))


def _listed(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {o: a for a in parser._actions if a.help != argparse.SUPPRESS for o in a.option_strings}


@pytest.fixture(scope="module")
def parsers() -> dict[tuple[str, ...], argparse.ArgumentParser]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        found = {path: p for name in COMMANDS for path, p in _walk(_parser_of(name, monkeypatch), (name,))}
        for name, first in DISPATCHED:
            found.update(_walk(_parser_of(name, monkeypatch, (first,)), (name, first)))
        return found


def test_every_command_has_a_parser_and_kebab_case_options(parsers: dict) -> None:
    assert {path[0] for path in parsers} == set(COMMANDS)
    bad = {
        " ".join(path): sorted(o for o in _listed(p) if not KEBAB.fullmatch(o))
        for path, p in parsers.items()
        if path[0] not in TRANSFORMERS_NAMES
    }
    assert {k: v for k, v in bad.items() if v} == {}


def test_one_name_one_meaning(parsers: dict) -> None:
    for path, p in parsers.items():
        listed = _listed(p)
        where = " ".join(path)
        if "--model" in listed:  # always a model directory
            assert listed["--model"].choices is None, where
        for flag in ("--threshold-policy", "--threshold_policy"):
            if flag in listed:  # always how training chooses thresholds
                assert tuple(listed[flag].choices or ()) == TRAIN_POLICIES, where
        if "-o" in listed:
            assert (
                "--output" in listed["-o"].option_strings or "--output_dir" in listed["-o"].option_strings
            ), where
        if "--overwrite" in listed:
            assert listed["--overwrite"].nargs == 0 or path[0] in TRANSFORMERS_NAMES, where


def _documented_commands() -> Iterator[tuple[str, str, str]]:
    """(file, command, flag) for each ``clausetag COMMAND ... --flag`` in the README, Makefile, docs."""
    files = [
        REPO / "README.md",
        REPO / "Makefile",
        REPO / "data" / "README.md",
        *sorted((REPO / "docs").glob("*.md")),
    ]
    for file in files:
        text = file.read_text(encoding="utf-8").replace("\\\n", " ")
        for line in text.splitlines():
            for match in re.finditer(r"clausetag ([a-z][a-z0-9-]*)((?:\s+(?!clausetag\b)[^\s`|;&]+)*)", line):
                command, rest = match.group(1), match.group(2)
                if command not in COMMANDS:
                    continue
                head = rest.split(" -- ")[0]  # after `--`, the flags belong to `clausetag train`
                for flag in re.findall(r"(?<!\S)(--?[A-Za-z][\w-]*)", head):
                    yield file.name, command, flag


def test_the_readme_makefile_and_docs_use_listed_names(parsers: dict) -> None:
    listed: dict[str, set[str]] = {}
    for path, p in parsers.items():
        listed.setdefault(path[0], set()).update(_listed(p))
    found = list(_documented_commands())
    assert len(found) > 30
    unknown = sorted({(f, c, flag) for f, c, flag in found if flag not in listed[c] | {"-h", "--help"}})
    assert unknown == []
