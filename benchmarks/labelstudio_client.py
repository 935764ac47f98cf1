"""The Label Studio side of the annotation round trip, run with Label Studio's own Python.

``tests/test_labelstudio.py`` and ``benchmarks/labelstudio.py`` run it with
``.venv-labelstudio/bin/python`` (label-studio-sdk comes with label-studio there; its pins
clash with clausetag's, so it never runs in our venv):

    python benchmarks/labelstudio_client.py URL TOKEN WORKDIR

WORKDIR holds what ``clausetag annotate export --format labelstudio`` wrote (``config.xml``,
``tasks.json``) and, optionally, ``corrections.json``: ``{unit id: [[annotator e-mail, [labels…]], …]}``,
each unit's annotations in the order they are submitted. It creates a project with the
config, imports the tasks with their predictions, creates the annotators, submits every
correction through the API as that annotator, exports the project as JSON through the
API into ``export.json`` and writes ``summary.json`` (what the server held before the export).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from label_studio_sdk import LabelStudio


def main(url: str, token: str, workdir: Path) -> None:
    ls = LabelStudio(base_url=url, api_key=token, timeout=120)
    config = (workdir / "config.xml").read_text(encoding="utf-8")
    tasks = json.loads((workdir / "tasks.json").read_text(encoding="utf-8"))
    given = workdir / "corrections.json"
    corrections = json.loads(given.read_text(encoding="utf-8")) if given.is_file() else {}

    project = ls.projects.create(title="clausetag round trip", label_config=config)
    ls.projects.import_tasks(id=project.id, request=tasks, return_task_ids=True)
    on_server = {t.data["id"]: t for t in ls.tasks.list(project=project.id, fields="all")}

    me = ls.users.whoami()
    users = {me.email: me.id}
    for email in sorted({who for notes in corrections.values() for who, _ in notes} - set(users)):
        users[email] = ls.users.create(email=email, username=email.split("@")[0]).id
    submitted = 0
    for unit_id, notes in corrections.items():
        task = on_server[unit_id]
        for who, labels in notes:
            result = [
                {"from_name": "labels", "to_name": "text", "type": "choices", "value": {"choices": labels}}
            ]
            ls.annotations.create(id=task.id, result=result, completed_by=users[who], was_cancelled=False)
            submitted += 1

    export = ls.projects.exports.as_json(project.id, timeout=120)
    (workdir / "export.json").write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    summary = {
        "project": project.id,
        "tasks": len(on_server),
        "task_ids": {k: t.id for k, t in on_server.items()},
        "predictions": {k: t.total_predictions for k, t in on_server.items()},
        "scores": {k: [p.score for p in (t.predictions or [])] for k, t in on_server.items()},
        "submitted": submitted,
        "users": users,
    }
    (workdir / "summary.json").write_text(json.dumps(summary, default=str), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
