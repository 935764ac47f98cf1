"""``clausetag data …``: validate, count and import corpora (OPP-115, annotation tools' exports)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from clausetag.data.corpus import DEFAULT_CORPUS_DIR, corpus_files, is_bundled, load_units, validate_units
from clausetag.data.stats import count_table, markdown_table, shape_table
from clausetag.errors import ClausetagError
from clausetag.labels import resolve_label_set
from clausetag.languages import LANGUAGES
from clausetag.options import add_labels, add_output, add_overwrite

#: The annotation tools ``data import`` reads (``clausetag.data.annotations.TOOLS``; not imported here).
ANNOTATION_TOOLS = ("labelstudio", "doccano", "argilla")


def _validate(args: argparse.Namespace) -> int:
    labels = resolve_label_set(args.path, args.labels)
    units = load_units(args.path, validate=False)
    found = validate_units(units, labels, bundled=is_bundled(args.path))
    for p in found:
        print(p, file=sys.stderr)
    files = len(corpus_files(args.path))
    problems = [p for p in found if not p.warning]
    if problems:
        raise ClausetagError(f"{len(problems)} problem(s) in {files} file(s) ({len(units)} units)")
    warned = len(found) - len(problems)
    note = f" ({warned} warning(s) above)" if warned else ""
    print(f"ok: {len(units)} units in {files} file(s), {len(labels)} labels{note}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    labels = resolve_label_set(args.path, args.labels)
    units = load_units(args.path, labels)
    print(markdown_table(*count_table(units, labels)))
    print("\nHow it is written (originals; kinds as training reads them):\n")
    print(markdown_table(*shape_table(units)))
    return 0


def _import_opp115(args: argparse.Namespace) -> int:
    from clausetag.data.opp115 import import_main

    return import_main(args)


def _import(args: argparse.Namespace) -> int:
    """``data import TOOL PATH -o OUT``: an annotation tool's export, or OPP-115."""
    if args.format == "opp115":
        if args.labels is not None or args.lang is not None:
            raise ClausetagError("--labels and --lang do not apply to opp115 (it brings its own scheme)")
        return _import_opp115(args)
    from clausetag.data.annotations import import_main

    return import_main(args)


def _opp115_mapping(args: argparse.Namespace) -> int:
    from clausetag.data.opp115 import mapping_main

    return mapping_main(args)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="clausetag data", description=__doc__)
    sub = parser.add_subparsers(
        dest="action", required=True, metavar="{validate,stats,import,opp115-mapping}"
    )
    for name, func, help_ in [
        ("validate", _validate, "check a corpus (file or directory) against its label scheme"),
        ("stats", _stats, "count units per label × language × source"),
    ]:
        p = sub.add_parser(name, help=help_)
        p.add_argument("path", nargs="?", type=Path, default=DEFAULT_CORPUS_DIR)
        add_labels(p)
        p.set_defaults(func=func)
    imp = sub.add_parser(
        "import",
        help="convert corrected annotations (Label Studio, doccano, Argilla) or OPP-115 into clausetag JSONL",
        description="Label Studio: the project's JSON export; doccano: its JSONL export (a file, or "
        "the zip of one file per annotator); Argilla: records.json (dataset.records.to_json) or a "
        "Dataset.to_disk folder; opp115: consolidation folder, benchmark split CSV or folder.",
    )
    imp.add_argument("format", choices=(*ANNOTATION_TOOLS, "opp115"), help="what PATH is")
    imp.add_argument("path", type=Path, metavar="PATH", help="the export (or OPP-115) to convert")
    add_output(
        imp,
        "output JSONL (opp115: a folder for a benchmark split; labels.json is written beside it)",
        required=True,
        type=Path,
    )
    add_overwrite(imp)
    add_labels(imp)
    imp.add_argument("--lang", choices=LANGUAGES, help="language of records that carry none")
    imp.set_defaults(func=_import)
    # The former spelling `data import-opp115 PATH -o OUT`: still parsed, no longer listed.
    opp = sub.add_parser("import-opp115", description="= clausetag data import opp115")
    opp.add_argument("path", type=Path, help="consolidation folder, benchmark split CSV or folder")
    add_output(opp, "output JSONL, or a folder for a benchmark split", required=True, type=Path)
    add_overwrite(opp)
    opp.set_defaults(func=_import_opp115)
    mapping = sub.add_parser("opp115-mapping", help="print the clausetag <-> OPP-115 label mapping")
    mapping.set_defaults(func=_opp115_mapping)
    args = parser.parse_args(argv)
    return int(args.func(args))
