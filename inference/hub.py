"""``clausetag push-to-hub DIR REPO``: a whole model directory to a Hugging Face Hub repo.

Everything ``ClauseClassifier`` and ``pipeline("clausetag")`` read goes: ``config.json``,
the weights, the tokenizer, ``thresholds.json``, ``ngram/``, ``onnx/``, the training
records and the model card. Before anything is sent:

1. the folder is checked as every reader checks it (``ModelDir.open``, ``inference.safeload``);
2. the card is renewed (``inference.card.compose``): Hub metadata, a ``model-index`` from
   the leave-one-document-out results file given with ``--lodo`` (and the baseline's; without
   ``--lodo``, figures an earlier push wrote stay), and clausetag's sections; it must parse as
   ``huggingface_hub.ModelCard`` parses it, and once the upload succeeded it is written into
   DIR too, so that the folder and the repo hold the same card;
3. the upload plan (``upload_plan``) lists every file and its path in the repo. Hidden
   entries (``.…``: scratch folders, caches), ``checkpoint-*`` folders and pickled files
   (``*.bin``, ``*.pt``, …; a clausetag model directory has none) are left out.

The upload is one commit through ``huggingface_hub``'s API (``HfApi.create_repo``,
``HfApi.create_commit``); the Hub validates the card's YAML again on receipt. Files already
in the repo that the plan does not name stay there. ``--dry-run`` prints the plan and the
card's metadata and writes and sends nothing. ``--endpoint`` (or ``HF_ENDPOINT``) picks another
Hub; the token is ``--token``, ``HF_TOKEN`` or the one ``hf auth login`` saved.
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clausetag.errors import ClausetagError
from clausetag.inference import card as cards
from clausetag.inference.modeldir import ModelDir
from clausetag.io import human_bytes

log = logging.getLogger(__name__)

#: Files never uploaded: pickles (a clausetag model directory has none; a Trainer checkpoint does).
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".npy", ".joblib")


@dataclass(frozen=True)
class PlannedFile:
    path_in_repo: str
    local: Path
    size: int


def _skipped(rel: Path) -> str:
    """Why a file of the folder stays behind ("" if it goes)."""
    if any(part.startswith(".") for part in rel.parts):
        return "hidden"
    if any(part.startswith("checkpoint-") or part == "__pycache__" for part in rel.parts[:-1]):
        return "a training checkpoint or cache"
    if rel.suffix.lower() in PICKLE_SUFFIXES:
        return "pickled (never loaded by clausetag)"
    return ""


def upload_plan(folder: str | Path) -> list[PlannedFile]:
    """Every file of the model directory that goes to the repo, sorted by its path in the repo."""
    root = Path(folder)
    plan = []
    for path in sorted(root.rglob("*")):
        if path.is_dir():
            continue
        rel = path.relative_to(root)
        why = _skipped(rel)
        if why:
            log.info("not uploaded: %s (%s)", rel.as_posix(), why)
            continue
        if not path.is_file():
            raise ClausetagError(f"{path}: not a regular file; is this a model file?")
        plan.append(PlannedFile(rel.as_posix(), path, path.stat().st_size))
    return plan


def _figures(args: argparse.Namespace, model_dir: ModelDir) -> tuple[Any, Any]:
    """The LODO figures of ``--lodo`` and the baseline's (``--baseline``, else the same recipes file)."""
    if args.lodo is None:
        if args.baseline is not None:
            raise ClausetagError("--baseline goes with --lodo (the recipe's own figures)")
        return None, None
    recipes = cards.is_recipes_file(args.lodo)
    own_policy = (args.lodo_policy or _threshold_policy(model_dir)) if recipes else args.lodo_policy
    lodo = cards.read_lodo(args.lodo, args.lodo_row, own_policy)
    if args.baseline is None and not recipes:
        return lodo, None  # an `experiment lodo` report holds one recipe: the baseline needs its own
    source = args.baseline or args.lodo
    if cards.is_recipes_file(source):
        row, policy = args.baseline_row or cards.BASELINE_ROW, args.baseline_policy or cards.BASELINE_POLICY
    else:
        row, policy = args.baseline_row, args.baseline_policy
    return lodo, cards.read_lodo(source, row, policy)


def _threshold_policy(model_dir: ModelDir) -> str:
    """The model's own threshold policy (``training_args.json``), the row's policy by default."""
    return model_dir.threshold_policy(cards.DEFAULT_POLICY)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clausetag push-to-hub",
        description="Upload a model directory (weights, tokenizer, thresholds.json, ngram/, onnx/, "
        "model card) to a Hugging Face Hub model repo as one commit, after renewing its card.",
    )
    parser.add_argument(
        "model", type=Path, metavar="DIR", help="model directory written by `clausetag train`"
    )
    parser.add_argument("repo", metavar="REPO", help="the Hub repo, as NAMESPACE/NAME (created if missing)")
    parser.add_argument(
        "--lodo",
        type=Path,
        metavar="FILE",
        help="leave-one-document-out results for the card's model-index: `clausetag experiment lodo`'s "
        "metrics.json or `experiment recipes`' recipes.json",
    )
    parser.add_argument(
        "--lodo-row", help=f"recipes.json row of this model's recipe (default {cards.DEFAULT_ROW})"
    )
    parser.add_argument(
        "--lodo-policy", help="its threshold policy (default: the model's own, from training_args.json)"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="FILE",
        help="the baseline's results (default: the --lodo file when it is a recipes.json)",
    )
    parser.add_argument(
        "--baseline-row", help=f"recipes.json row of the baseline (default {cards.BASELINE_ROW})"
    )
    parser.add_argument(
        "--baseline-policy",
        help=f"its threshold policy (default {cards.BASELINE_POLICY}, `clausetag baseline`'s)",
    )
    parser.add_argument("--private", action="store_true", help="create the repo private (if it is new)")
    parser.add_argument("--revision", help="branch to commit to (default: the repo's main branch)")
    parser.add_argument("--message", default="", help="commit message")
    parser.add_argument("--token", help="Hub token (default: HF_TOKEN or the saved login)")
    parser.add_argument("--endpoint", help="Hub address (default: HF_ENDPOINT or huggingface.co)")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the upload plan and the card's metadata; send nothing"
    )
    return parser


def _check_repo(repo: str) -> str:
    parts = repo.split("/")
    if len(parts) != 2 or not all(parts) or any(p.startswith((".", "-")) for p in parts):
        raise ClausetagError(
            f"REPO must be NAMESPACE/NAME (e.g. your-name/clausetag-me5-small), not {repo!r}"
        )
    return repo


def _describe(plan: list[PlannedFile], meta: dict[str, Any], repo: str) -> str:
    lines = [f"upload plan for {repo}: {len(plan)} files, {human_bytes(sum(f.size for f in plan))}"]
    lines += [f"  {f.path_in_repo}  ({human_bytes(f.size)})" for f in plan]
    index = meta.get("model-index") or []
    metrics = sum(len(r.get("metrics", [])) for m in index for r in m.get("results", []))
    lines.append(
        f"card: license {meta.get('license')}, languages {', '.join(meta.get('language') or [])}, "
        + (f"model-index with {metrics} metrics" if metrics else "no model-index")
    )
    return "\n".join(lines)


def _hub_error(exc: Exception, endpoint: str) -> ClausetagError:
    """A Hub or network failure as one line."""
    from huggingface_hub.errors import HfHubHTTPError

    first = " ".join(str(exc).split())[:300]
    if isinstance(exc, HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        said = " ".join(str(getattr(exc, "server_message", "") or "").split())[:300] or first
        hint = (
            " (log in with `hf auth login`, or pass --token / set HF_TOKEN)" if status in (401, 403) else ""
        )
        return ClausetagError(f"the Hub refused the upload (HTTP {status}: {said}){hint}")
    return ClausetagError(f"cannot reach the Hub at {endpoint}: {first}")


def push(
    folder: str | Path,
    repo: str,
    card_text: str,
    *,
    token: str | None = None,
    endpoint: str | None = None,
    private: bool = False,
    revision: str | None = None,
    message: str = "",
) -> str:
    """Upload the plan of ``folder`` (its README.md as ``card_text``) as one commit; the commit's URL."""
    import httpx
    from huggingface_hub import CommitOperationAdd, HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError

    if constants.is_offline_mode():
        raise ClausetagError("HF_HUB_OFFLINE is set: an upload needs the Hub; unset it (or use --dry-run)")
    plan = upload_plan(folder)
    api = HfApi(endpoint=endpoint, token=token)
    operations = [
        CommitOperationAdd(
            path_in_repo=f.path_in_repo,
            path_or_fileobj=card_text.encode("utf-8") if f.path_in_repo == cards.CARD_FILE else str(f.local),
        )
        for f in plan
    ]
    if not any(f.path_in_repo == cards.CARD_FILE for f in plan):
        operations.append(
            CommitOperationAdd(path_in_repo=cards.CARD_FILE, path_or_fileobj=card_text.encode())
        )
    try:
        api.create_repo(repo, private=private, exist_ok=True, repo_type="model")
        info = api.create_commit(
            repo,
            operations=operations,
            commit_message=message or f"clausetag: upload {Path(folder).resolve().name}",
            revision=revision,
            repo_type="model",
        )
    except (HfHubHTTPError, httpx.HTTPError, OSError) as exc:
        raise _hub_error(exc, api.endpoint) from None
    except ValueError as exc:  # the Hub's YAML check of README.md
        raise ClausetagError(f"the Hub refused the model card: {' '.join(str(exc).split())}") from None
    return str(info.commit_url)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    repo = _check_repo(args.repo)
    model_dir = ModelDir.open(args.model)
    lodo, baseline = _figures(args, model_dir)
    card_text = cards.compose(model_dir.path, lodo, baseline, repo_id=repo)
    meta = cards.check_card(card_text)
    plan = upload_plan(model_dir.path)
    print(_describe(plan, meta, repo))
    if args.dry_run:
        print("dry run: nothing written, nothing sent")
        return 0
    endpoint = args.endpoint or os.environ.get("HF_ENDPOINT") or None
    url = push(
        model_dir.path,
        repo,
        card_text,
        token=args.token,
        endpoint=endpoint,
        private=args.private,
        revision=args.revision,
        message=args.message,
    )
    cards.write_card(model_dir.path, card_text)  # the folder keeps the card the repo has
    print(f"pushed {model_dir.path} to {repo}: {url}")
    return 0


__all__ = ["PlannedFile", "main", "push", "upload_plan"]
