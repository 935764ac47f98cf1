"""Apply a label revision log to the bundled corpus; translations follow their originals.

    python data/revisions/apply.py data/revisions/v2-*.jsonl

Each log line: {"id", "old", "new", "rule", "why"}. A line whose "old" no longer matches
the corpus is refused (the log was made against another state), so a log applies once.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def main(logs: list[str]) -> int:
    changes = {}
    for log in logs:
        for line in Path(log).read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                changes[rec["id"]] = rec
    files = sorted(CORPUS.rglob("*.jsonl"))
    rows = {
        f: [json.loads(x) for x in f.read_text(encoding="utf-8").splitlines() if x.strip()] for f in files
    }
    by_id = {u["id"]: u for units in rows.values() for u in units}
    for uid, rec in changes.items():
        unit = by_id.get(uid)
        if unit is None:
            raise SystemExit(f"{uid}: not in the corpus")
        if unit["labels"] != rec["old"] and unit["labels"] != rec["new"]:
            raise SystemExit(f"{uid}: corpus has {unit['labels']}, the log expected {rec['old']}")
        unit["labels"] = rec["new"]
    moved = 0
    for unit in by_id.values():
        if unit.get("source") == "translation" and unit.get("orig") in by_id:
            labels = by_id[unit["orig"]]["labels"]
            moved += unit["labels"] != labels
            unit["labels"] = list(labels)
    for f, units in rows.items():
        f.write_text("".join(json.dumps(u, ensure_ascii=False) + "\n" for u in units), encoding="utf-8")
    print(f"{len(changes)} unit(s) relabelled, {moved} translation(s) followed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
