"""OPP-115 (Wilson et al. 2016): import it as clausetag JSONL, and map its categories to ours.

Two inputs are understood (see ``data/OPP115.md``):

- the consolidation CSVs (one per policy, no header, nine columns; column 5 is
  the zero-based segment id, column 6 the category) with the segment texts from
  ``sanitized_policies/<same name>.html``, whose segments are separated by
  ``|||``. A segment gets the union of the categories annotated on it; a segment
  with no category is skipped (the published splits leave them out too).
- the published Majority/Union benchmark splits (two columns: text, label; one
  row per segment × label). OPP-115's three ``Other`` sub-types become ``Other``,
  rows of one text are merged, and the policy is recovered by matching the text
  against ``sanitized_policies`` when that folder is found above the CSVs.

Units keep OPP-115's own ten category names as labels and the policy id (the
number that prefixes the file names, as in ``policies_opp115.csv``) as ``doc``,
so that splits can be made by policy. ``labels.json`` is written beside the
output, so ``clausetag data validate``, ``train`` and ``evaluate`` use the
scheme without flags.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

from clausetag.data.corpus import CorpusUnit, write_units
from clausetag.errors import ClausetagError
from clausetag.io import read_text, write_json
from clausetag.labels import DEFAULT_LABELS, LABELS_FILE

#: OPP-115's ten categories, in the order of Wilson et al. (2016), Table 2.
OPP115_CATEGORIES: tuple[str, ...] = (
    "First Party Collection/Use",
    "Third Party Sharing/Collection",
    "User Choice/Control",
    "User Access, Edit and Deletion",
    "Data Retention",
    "Data Security",
    "Policy Change",
    "Do Not Track",
    "International and Specific Audiences",
    "Other",
)

#: The benchmark splits name the values of Other's "Other Type" attribute instead of "Other".
OTHER_SUBTYPES: tuple[str, ...] = (
    "Introductory/Generic",
    "Privacy contact information",
    "Practice not covered",
)

#: Our label -> the OPP-115 categories it falls under: the last column of spec/labels.md.
TO_OPP115: dict[str, tuple[str, ...]] = {
    "controller": ("Other",),
    "data_categories": ("First Party Collection/Use",),
    "purpose": ("First Party Collection/Use",),
    "legal_basis": ("First Party Collection/Use",),
    "recipients": ("Third Party Sharing/Collection",),
    "transfer": ("Third Party Sharing/Collection",),
    "retention": ("Data Retention",),
    "security": ("Data Security",),
    "rights": ("User Access, Edit and Deletion",),
    "user_choice": ("User Choice/Control",),
    "complaint": ("Other",),
    "cookies": ("First Party Collection/Use", "Third Party Sharing/Collection", "Do Not Track"),
    "automated_decisions": ("Other",),
    "children": ("International and Specific Audiences",),
    "policy_changes": ("Policy Change",),
    "provision_requirement": ("Other",),
    "other": ("Other",),
}

#: For our labels under ``Other``: the "Other Type" the spec names in parentheses.
OTHER_TYPE: dict[str, str] = {
    "controller": "Privacy contact information",
    "complaint": "Practice not covered",
    "automated_decisions": "Practice not covered",
    "provision_requirement": "Practice not covered",
    "other": "Introductory/Generic",
}

CONSOLIDATION_COLUMNS = 9  # annotation id, batch, annotator, policy id, segment, category, attrs, date, url
SEGMENT_SEPARATOR = "|||"
PREFERRED_THRESHOLD = "threshold-0.75-overlap-similarity"
SPLIT_NAMES = ("train", "validation", "test")
EXCEL_ERROR = "#NAME?"  # a spreadsheet ate a text that began with "-" or "="


# --------------------------------------------------------------------------- mapping


def one_to_one(mapping: dict[str, tuple[str, ...]] = TO_OPP115) -> dict[str, str]:
    """Our label -> OPP-115 category where neither side maps to anything else.

    Only these pairs can carry OPP-115 gold over to our scheme without guessing.
    """
    sources: dict[str, list[str]] = {}
    for label, targets in mapping.items():
        for t in targets:
            sources.setdefault(t, []).append(label)
    return {
        label: targets[0]
        for label, targets in mapping.items()
        if len(targets) == 1 and len(sources[targets[0]]) == 1
    }


def mapping_matrix(
    labels: Sequence[str] = DEFAULT_LABELS,
    categories: Sequence[str] = OPP115_CATEGORIES,
    mapping: dict[str, tuple[str, ...]] = TO_OPP115,
) -> np.ndarray:
    """Boolean ``(len(labels), len(categories))``: our label i falls under category j."""
    missing = [x for x in labels if x not in mapping]
    if missing:
        raise ClausetagError(f"no OPP-115 mapping for label(s) {', '.join(missing)}")
    index = {c: j for j, c in enumerate(categories)}
    m = np.zeros((len(labels), len(categories)), dtype=bool)
    for i, label in enumerate(labels):
        for target in mapping[label]:
            m[i, index[target]] = True
    return m


def to_opp115(y: np.ndarray, labels: Sequence[str] = DEFAULT_LABELS) -> np.ndarray:
    """Project multi-hot rows in our scheme (column order ``labels``) onto OPP-115's ten.

    A category is on when any of our labels under it is on; ``cookies`` turns on
    all three of its categories, as the spec maps it.
    """
    y = np.asarray(y)
    if y.ndim != 2 or y.shape[1] != len(labels):
        raise ClausetagError(f"expected a (units, {len(labels)}) matrix, got shape {y.shape}")
    return ((y > 0).astype(int) @ mapping_matrix(labels).astype(int) > 0).astype(int)


def from_opp115(y: np.ndarray, categories: Sequence[str] = OPP115_CATEGORIES) -> tuple[np.ndarray, list[str]]:
    """OPP-115 gold rows onto our labels, for the one-to-one pairs only.

    Returns the matrix and the names of its columns (our labels): the other
    labels cannot be recovered from OPP-115 gold, so they are left out rather
    than scored as absent.
    """
    y = np.asarray(y)
    if y.ndim != 2 or y.shape[1] != len(categories):
        raise ClausetagError(f"expected a (units, {len(categories)}) matrix, got shape {y.shape}")
    pairs = one_to_one()
    ours = [label for label in DEFAULT_LABELS if label in pairs]
    cols = [list(categories).index(pairs[label]) for label in ours]
    return (y[:, cols] > 0).astype(int), ours


def opp115_names(names: Iterable[str]) -> list[str]:
    """Our label names for one unit -> its OPP-115 category names (canonical order)."""
    names = list(names)
    unknown = [x for x in names if x not in TO_OPP115]
    if unknown:
        raise ClausetagError(f"no OPP-115 mapping for label(s) {', '.join(unknown)}")
    return ordered(t for name in names for t in TO_OPP115[name])


def mapping_markdown() -> str:
    """The mapping as a table: for ``data/OPP115.md`` and a printout."""
    pairs = one_to_one()
    lines = ["| our label | OPP-115 category | one-to-one |", "|---|---|:---:|"]
    for label in DEFAULT_LABELS:
        targets = "; ".join(TO_OPP115[label])
        if label in OTHER_TYPE:
            targets += f" ({OTHER_TYPE[label]})"
        lines.append(f"| `{label}` | {targets} | {'yes' if label in pairs else ''} |")
    return "\n".join(lines)


def mapping_main(args: argparse.Namespace | None = None) -> int:
    """``clausetag data opp115-mapping``: print the mapping table."""
    print(mapping_markdown())
    return 0


# --------------------------------------------------------------------------- reading


class _TextOnly(HTMLParser):
    """Text of an HTML fragment; every tag is a word break (``<br>``, ``<li>``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        self.parts.append(" ")


def html_to_text(fragment: str) -> str:
    """Plain text of a sanitized-policy segment, whitespace collapsed (as in the benchmark CSVs)."""
    parser = _TextOnly()
    parser.feed(fragment)
    parser.close()
    return " ".join("".join(parser.parts).split())


def read_segments(html_path: Path) -> list[str]:
    """The policy's segments as plain text, index = OPP-115 segment id."""
    return [html_to_text(s) for s in read_text(html_path).split(SEGMENT_SEPARATOR)]


def iter_csv(path: Path) -> Iterator[tuple[int, list[str]]]:
    """``(first line number, row)`` per CSV record: errors can point at the line."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    start = 1
    try:
        for row in reader:
            if row:
                yield start, row
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ClausetagError(f"{path}:{start}: malformed CSV ({exc})") from None


def read_consolidation(path: Path) -> dict[int, tuple[set[str], int]]:
    """Segment id -> (categories annotated on it, first CSV line that names it)."""
    out: dict[int, tuple[set[str], int]] = {}
    for lineno, row in iter_csv(path):
        if len(row) != CONSOLIDATION_COLUMNS:
            raise ClausetagError(
                f"{path}:{lineno}: expected {CONSOLIDATION_COLUMNS} columns (annotation id, batch, "
                f"annotator, policy id, segment id, category, attributes, date, URL), found {len(row)}"
            )
        seg, category = row[4].strip(), row[5].strip()
        if not seg.isdigit():
            raise ClausetagError(f"{path}:{lineno}: segment id {seg!r} is not a number")
        if category not in OPP115_CATEGORIES:
            raise ClausetagError(
                f"{path}:{lineno}: unknown category {category!r} (known: {', '.join(OPP115_CATEGORIES)})"
            )
        cats, first = out.get(int(seg), (set(), lineno))
        cats.add(category)
        out[int(seg)] = (cats, first)
    return out


def policy_id(path: Path) -> str:
    """``1017_example.com.csv`` -> ``1017``: the Policy UID of ``policies_opp115.csv``."""
    prefix = path.stem.split("_", 1)[0]
    if not prefix.isdigit():
        raise ClausetagError(f"{path}: expected a name like 1017_example.com.csv (policy id first)")
    return prefix


def ordered(categories: Iterable[str]) -> list[str]:
    """Categories in the canonical order, so identical label sets compare equal."""
    present = set(categories)
    return [c for c in OPP115_CATEGORIES if c in present]


# --------------------------------------------------------------------------- converting


@dataclass
class Imported:
    """What an import produced, per output name, plus counts for the summary line."""

    parts: dict[str, list[CorpusUnit]]
    notes: dict[str, int] = field(default_factory=dict)


def convert_policy(csv_path: Path, html_path: Path) -> tuple[list[CorpusUnit], int]:
    """One policy's annotated segments as units; also the number of segments without a category."""
    if not html_path.is_file():
        raise ClausetagError(f"{csv_path}: its policy text {html_path} is missing")
    segments = read_segments(html_path)
    annotated = read_consolidation(csv_path)
    for seg, (_, lineno) in annotated.items():
        if seg >= len(segments):
            raise ClausetagError(
                f"{csv_path}:{lineno}: segment {seg} does not exist in {html_path} "
                f"({len(segments)} segments separated by {SEGMENT_SEPARATOR})"
            )
    doc = policy_id(csv_path)
    units: list[CorpusUnit] = []
    for seg, text in enumerate(segments):
        if seg not in annotated or not text:
            continue
        units.append(
            {
                "id": f"{csv_path.stem}:{seg}",
                "doc": doc,
                "lang": "en",
                "text": text,
                "labels": ordered(annotated[seg][0]),
                "source": "seed",
            }
        )
    unlabelled = sum(1 for seg, text in enumerate(segments) if text and seg not in annotated)
    return units, unlabelled


def convert_consolidation(csv_files: Sequence[Path], html_dir: Path) -> Imported:
    """All policies of a consolidation folder, in policy-id order, as one part."""
    units: list[CorpusUnit] = []
    skipped = 0
    for path in sorted(csv_files, key=lambda p: (int(policy_id(p)), p.name)):
        part, unlabelled = convert_policy(path, html_dir / f"{path.stem}.html")
        units += part
        skipped += unlabelled
    return Imported({"": units}, {"segments without a category (skipped)": skipped})


def _norm(text: str) -> str:
    """A benchmark text as the segment reads: the published CSVs double every quote."""
    return " ".join(text.replace('""', '"').split())


def policy_index(html_dir: Path | None) -> dict[str, str]:
    """Segment text -> policy id (the lowest id where boilerplate repeats across policies)."""
    index: dict[str, str] = {}
    if html_dir is None:
        return index
    for path in sorted(html_dir.glob("*.html"), key=lambda p: -int(policy_id(p))):
        for segment in read_segments(path):
            index[_norm(segment)] = policy_id(path)
    return index


def convert_benchmark_csv(path: Path, index: dict[str, str], name: str) -> tuple[list[CorpusUnit], int]:
    """One split CSV: rows merged per text, Other sub-types folded; also the unreadable row count."""
    merged: dict[str, set[str]] = {}
    broken = 0
    for lineno, row in iter_csv(path):
        if len(row) != 2:
            raise ClausetagError(f"{path}:{lineno}: expected 2 columns (text, label), found {len(row)}")
        text, label = _norm(row[0]), row[1].strip()
        label = "Other" if label in OTHER_SUBTYPES else label
        if label not in OPP115_CATEGORIES:
            known = ", ".join([*OPP115_CATEGORIES, *OTHER_SUBTYPES])
            raise ClausetagError(f"{path}:{lineno}: unknown label {label!r} (known: {known})")
        if not text or text == EXCEL_ERROR:
            broken += 1
            continue
        merged.setdefault(text, set()).add(label)
    units: list[CorpusUnit] = [
        {
            "id": f"{name}:{k}",
            "doc": index.get(text, "unknown"),
            "lang": "en",
            "text": text,
            "labels": ordered(cats),
            "source": "seed",
        }
        for k, (text, cats) in enumerate(merged.items())
    ]
    return units, broken


def convert_benchmark(csv_files: dict[str, Path], html_dir: Path | None) -> Imported:
    """Benchmark split CSVs (name -> path), each to its own part."""
    index = policy_index(html_dir)
    parts: dict[str, list[CorpusUnit]] = {}
    broken = 0
    for name, path in csv_files.items():
        parts[name], bad = convert_benchmark_csv(path, index, name)
        broken += bad
    unknown = sum(1 for units in parts.values() for u in units if u["doc"] == "unknown")
    notes = {
        "rows whose text a spreadsheet destroyed (#NAME?, skipped)": broken,
        "texts of unknown policy": unknown,
    }
    return Imported(parts, notes)


# --------------------------------------------------------------------------- finding the input


def find_up(start: Path, name: str, levels: int = 4) -> Path | None:
    """``name`` in ``start`` or one of its parents: the OPP-115 folder layout, wherever it is."""
    for folder in [start, *start.parents][: levels + 1]:
        if (folder / name).is_dir():
            return folder / name
    return None


def _csv_columns(path: Path) -> int:
    for _, row in iter_csv(path):
        return len(row)
    raise ClausetagError(f"{path}: the file holds no rows")


def _consolidation_dir(path: Path) -> Path:
    """A consolidation folder: the 0.75 threshold when a choice of thresholds is offered."""
    if (path / "consolidation").is_dir():
        path = path / "consolidation"
    subdirs = sorted(p for p in path.iterdir() if p.is_dir() and p.name.startswith("threshold-"))
    if not subdirs:
        return path
    preferred = [p for p in subdirs if p.name == PREFERRED_THRESHOLD]
    if preferred or len(subdirs) == 1:
        return (preferred or subdirs)[0]
    raise ClausetagError(f"{path}: pick one of {', '.join(p.name for p in subdirs)}")


def _benchmark_files(folder: Path) -> dict[str, Path]:
    files = {name: folder / f"{name}_dataset.csv" for name in SPLIT_NAMES}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise ClausetagError(f"{folder}: a benchmark split folder needs {', '.join(missing)}")
    return files


def read_opp115(path: Path) -> Imported:
    """Convert whatever OPP-115 input ``path`` is (see the module docstring)."""
    if not path.exists():
        raise ClausetagError(f"{path}: no such file or directory")
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise ClausetagError(f"{path}: expected an OPP-115 CSV file or folder")
        if _csv_columns(path) == 2:
            return convert_benchmark({"": path}, find_up(path.parent, "sanitized_policies"))
        return convert_consolidation([path], _html_dir(path.parent))
    if list(path.glob("*_dataset.csv")):
        return convert_benchmark(_benchmark_files(path), find_up(path, "sanitized_policies"))
    folder = _consolidation_dir(path)
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise ClausetagError(
            f"{path}: no OPP-115 data here (expected consolidation CSVs, e.g. "
            "consolidation/threshold-0.75-overlap-similarity/, or a benchmark split folder)"
        )
    return convert_consolidation(files, _html_dir(folder))


def _html_dir(csv_dir: Path) -> Path:
    found = find_up(csv_dir, "sanitized_policies")
    if found is None:
        raise ClausetagError(
            f"{csv_dir}: no sanitized_policies/ folder above it (the segment texts live there)"
        )
    return found


# --------------------------------------------------------------------------- writing


def output_paths(out: Path, parts: Sequence[str]) -> dict[str, Path]:
    """One part: ``out`` is the JSONL; several (a split folder): ``out`` is a folder of them."""
    if parts == [""]:
        return {"": out}
    if out.suffix == ".jsonl":
        raise ClausetagError(
            f"{out}: a benchmark split folder gives {len(parts)} files ({', '.join(parts)}): "
            "pass a folder as --output"
        )
    return {name: out / f"{name}.jsonl" for name in parts}


def check_destination(paths: Iterable[Path], overwrite: bool) -> None:
    """Refuse to overwrite, and to give other data in the same folder OPP-115's label scheme."""
    paths = list(paths)
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise ClausetagError(f"{', '.join(existing)} already exists: pass --overwrite to replace it")
    for folder in {p.parent for p in paths}:
        labels_file = folder / LABELS_FILE
        if labels_file.is_file():
            try:
                current = json.loads(labels_file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                current = None
            if current != list(OPP115_CATEGORIES):
                raise ClausetagError(
                    f"{labels_file} names another label scheme: write OPP-115 to a folder of its own"
                )
            continue
        others = sorted(p.name for p in folder.glob("*.jsonl") if p not in paths)
        if others:
            raise ClausetagError(
                f"{folder} holds other data ({', '.join(others[:3])}) that the {LABELS_FILE} written "
                "there would relabel: write OPP-115 to a folder of its own"
            )


def import_main(args: argparse.Namespace) -> int:
    """``clausetag data import-opp115 PATH -o FILE [--overwrite]``."""
    imported = read_opp115(Path(args.path))
    if not all(imported.parts.values()):
        raise ClausetagError(f"{args.path}: no annotated segments to import")
    paths = output_paths(Path(args.output), list(imported.parts))
    check_destination(paths.values(), bool(args.overwrite))
    for name, path in paths.items():
        write_units(path, imported.parts[name])
    labels_file = next(iter(paths.values())).parent / LABELS_FILE
    write_json(labels_file, list(OPP115_CATEGORIES))
    for name, path in paths.items():
        units = imported.parts[name]
        print(f"wrote {len(units)} units from {len({u['doc'] for u in units})} policies to {path}")
    notes = "".join(f"; {what}: {n}" for what, n in imported.notes.items() if n)
    print(f"labels: {labels_file} ({len(OPP115_CATEGORIES)} OPP-115 categories){notes}")
    return 0
