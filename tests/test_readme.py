"""The README's Python blocks run as written, in a folder laid out as the repository.

The tiny trained model stands in as ``models/clausetag-me5-small`` and a short policy as the
reader's own ``policy.txt``; each block runs in a fresh interpreter, in the README's order.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POLICY = """Privacy policy

1. Who we are
SIA Example, Registration No. 40000000000, is the controller.

2. How long we keep data
We keep invoices for five years after the contract ends.
"""


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), re.S)


def test_readme_python_blocks_run_as_written(tiny_model: Path, tmp_path: Path) -> None:
    blocks = _python_blocks()
    assert len(blocks) >= 3 and any("ClauseClassifier" in b for b in blocks)
    root = tmp_path / "repo"
    (root / "models").mkdir(parents=True)
    shutil.copytree(tiny_model, root / "models" / "clausetag-me5-small")
    (root / "policy.txt").write_text(POLICY, encoding="utf-8")
    for code in blocks:
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, (code, done.stderr[-3000:])
        if "print(" in code:
            assert done.stdout.strip(), code  # each printing block prints what it says
