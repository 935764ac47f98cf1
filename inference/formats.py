"""Output formats of ``clausetag predict``: JSON Lines and CSV records, one per unit.

CSV cells that a spreadsheet would run as a formula are escaped (OWASP "CSV
injection") and read back exactly by ``csv_uncell``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FORMATS = ("jsonl", "csv")


#: Cell starts a spreadsheet reads as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula gets a leading ``'`` (OWASP).

    Cells that already start with quotes before such a character get one more,
    so ``csv_uncell`` gives back exactly the original text.
    """
    if isinstance(value, str) and value.lstrip("'").startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_uncell(value: str) -> str:
    """The inverse of ``csv_cell``."""
    if value.startswith("'") and value.lstrip("'").startswith(_FORMULA_START):
        return value[1:]
    return value


def csv_fields(labels: Sequence[str]) -> list[str]:
    """The CSV columns: the unit's fields, its labels, one score per label."""
    return ["doc", "unit", "id", "start", "end", "kind", "text", "labels", *(f"score_{x}" for x in labels)]


def format_record(record: dict[str, Any], fmt: str, labels: Sequence[str]) -> str:
    """One output line (JSONL) or row (CSV, labels joined by ';')."""
    if fmt == "jsonl":
        return json.dumps(record, ensure_ascii=False) + "\n"
    row = {k: record.get(k, "") for k in ("doc", "unit", "id", "start", "end", "kind", "text")}
    row["labels"] = ";".join(record["labels"])
    row.update({f"score_{x}": record["scores"][x] for x in labels})
    return csv_line([csv_cell(row[k]) for k in csv_fields(labels)])


def csv_line(values: Sequence[Any]) -> str:
    """One CSV row ending in ``\n``; a cell holding a carriage return is quoted too (``csv`` quotes
    only the characters of its line terminator, and an unquoted CR splits the row for every reader)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(values)
    return buf.getvalue()[:-2] + "\n"


def header(fmt: str, labels: Sequence[str]) -> str:
    """What a ``predict`` output starts with: the CSV header row, nothing for JSONL."""
    return csv_line(csv_fields(labels)) if fmt == "csv" else ""


def output_format(fmt: str | None, output: str | None) -> str:
    """``predict --format``, else from the output's suffix (``.csv``), else JSONL."""
    if fmt:
        return fmt
    return "csv" if output and Path(output).suffix.lower() == ".csv" else "jsonl"


def report_format(fmt: str | None, output: str | None) -> str:
    """``report --format``, else from the output's suffix (``.html``, ``.json``), else Markdown."""
    if fmt:
        return fmt
    suffix = Path(output).suffix.lower() if output else ""
    return {".html": "html", ".htm": "html", ".json": "json"}.get(suffix, "md")
