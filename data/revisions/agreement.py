"""Agreement of the corpus labels with a blind second pass.

    python data/revisions/agreement.py [--rev GIT_REV]

Reads the blind labels (``blind-pass.jsonl``: 220 seed units re-labelled from the spec
and the text alone, see ``blind-sample.jsonl``) and the corpus, either as it is now
or as it was at a git revision, and prints exact label-set agreement and per-label
precision / recall of the corpus *against* the blind pass (the blind pass is the
reference, as in issue 9's review).
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def corpus_labels(rev: str | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if rev is None:
        texts = [p.read_text(encoding="utf-8") for p in sorted((REPO / "data" / "corpus").glob("0*.jsonl"))]
    else:
        names = subprocess.run(
            ["git", "ls-tree", "--name-only", rev, "data/corpus/"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        texts = [
            subprocess.run(
                ["git", "show", f"{rev}:{n}"], cwd=REPO, capture_output=True, text=True, check=True
            ).stdout
            for n in names
            if Path(n).name.startswith("0") and n.endswith(".jsonl")
        ]
    for text in texts:
        for line in text.splitlines():
            if line.strip():
                u = json.loads(line)
                out[u["id"]] = u["labels"]
    return out


def agreement(blind: dict[str, list[str]], corpus: dict[str, list[str]]) -> dict:
    ids = [i for i in blind if i in corpus]
    labels = sorted({x for i in ids for x in blind[i] + corpus[i]})
    per = {}
    for lab in labels:
        tp = sum(lab in blind[i] and lab in corpus[i] for i in ids)
        fp = sum(lab not in blind[i] and lab in corpus[i] for i in ids)
        fn = sum(lab in blind[i] and lab not in corpus[i] for i in ids)
        per[lab] = {
            "precision": tp / (tp + fp) if tp + fp else float("nan"),
            "recall": tp / (tp + fn) if tp + fn else float("nan"),
            "support": tp + fn,
        }
    tp = sum(len(set(blind[i]) & set(corpus[i])) for i in ids)
    n_corpus = sum(len(corpus[i]) for i in ids)
    n_blind = sum(len(blind[i]) for i in ids)
    return {
        "units": len(ids),
        "exact": sum(set(blind[i]) == set(corpus[i]) for i in ids) / len(ids),
        "micro_precision": tp / n_corpus,
        "micro_recall": tp / n_blind,
        "per_label": per,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rev", default=None, help="git revision of the corpus (default: the working tree)")
    args = parser.parse_args()
    blind = {}
    for line in (HERE / "blind-pass.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            blind[rec["id"]] = rec["labels"]
    res = agreement(blind, corpus_labels(args.rev))
    print(
        f"{res['units']} units: exact label-set agreement {res['exact']:.3f}, "
        f"micro precision {res['micro_precision']:.3f}, micro recall {res['micro_recall']:.3f}"
    )
    print("| label | support | precision | recall |\n|---|---:|---:|---:|")
    for lab, r in res["per_label"].items():
        print(f"| {lab} | {r['support']} | {r['precision']:.2f} | {r['recall']:.2f} |")


if __name__ == "__main__":
    main()
