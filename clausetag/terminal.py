"""What reaches a terminal is text, never control: escapes, C1 controls and bidi overrides neutralised.

Policy text and file names are untrusted: an ``ESC ] 8 ;`` (OSC 8) sequence in a
policy would print a disguised hyperlink, ``ESC [ 2 J`` clear the screen, a
right-to-left override (U+202E) make ``gpj.exe`` read ``exe.jpg``. ``printable``
writes each such character as a visible ``\\uXXXX`` escape (the same spelling
in JSON and Python), so nothing a policy holds can steer the terminal:

* every error message ``clausetag: error: …`` goes through it (``clausetag.cli.run``),
* while a command runs, standard output and standard error that are terminals
  are wrapped in ``TerminalSafe`` (``terminal_safe_streams``), so a Markdown
  report, CSV or JSONL on stdout and every message and warning are neutralised
  too; output to a pipe or file stays byte-exact (``--resume`` reads it back).
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from typing import Any, TextIO

#: C0 controls but tab and newline, DEL, C1 controls, bidi embeddings/overrides/isolates and
#: marks, line and paragraph separators, and lone surrogates (undecodable bytes of a file name).
_NOT_C0 = "\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff"
_UNSAFE_RE = re.compile(f"[\x00-\x08\x0b-\x1f{_NOT_C0}]")
#: The same, with carriage return allowed: progress bars redraw their line with it.
_UNSAFE_STREAM_RE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f{_NOT_C0}]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def printable(text: str) -> str:
    """``text`` with every character that could control a terminal written as ``\\uXXXX``.

    Newlines and tabs stay (messages may span lines); everything else that is
    not a control character is untouched.
    """
    return _UNSAFE_RE.sub(_escape, text)


class TerminalSafe:
    """A text stream whose writes are neutralised (``\\r`` kept: progress bars need it)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(_UNSAFE_STREAM_RE.sub(_escape, text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


@contextlib.contextmanager
def terminal_safe_streams() -> Iterator[None]:
    """While the block runs, ``sys.stdout``/``sys.stderr`` that are terminals neutralise what they get."""
    saved = sys.stdout, sys.stderr
    if _is_terminal(sys.stdout) and not isinstance(sys.stdout, TerminalSafe):
        sys.stdout = TerminalSafe(sys.stdout)
    if _is_terminal(sys.stderr) and not isinstance(sys.stderr, TerminalSafe):
        sys.stderr = TerminalSafe(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
