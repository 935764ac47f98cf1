"""Every notebook runs top to bottom on small settings and is committed without outputs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import REPO

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = REPO / "notebooks"
#: 02 and 03 train a tiny model (about a minute on two busy cores); 01 only reads the corpus.
SLOW = {"02_training_and_evaluation.ipynb", "03_error_analysis.ipynb"}


def kernel_name() -> str:
    """The ``python3`` kernel of this interpreter: jupyter_client runs it with ``sys.executable``."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        from ipykernel.kernelspec import install

        install(prefix=sys.prefix)
    return "python3"


def notebook_params() -> list:
    return [
        pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.name in SLOW else [])
        for p in sorted(NOTEBOOKS.glob("*.ipynb"))
    ]


def test_there_are_three_notebooks() -> None:
    assert [p.name for p in sorted(NOTEBOOKS.glob("*.ipynb"))] == [
        "01_corpus.ipynb",
        "02_training_and_evaluation.ipynb",
        "03_error_analysis.ipynb",
    ]


@pytest.mark.parametrize("path", notebook_params())
def test_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: clear the outputs"


@pytest.mark.parametrize("path", notebook_params())
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUSETAG_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("CLAUSETAG_RUN_DIR", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.delenv("CLAUSETAG_MODEL_DIR", raising=False)
    monkeypatch.delenv("CLAUSETAG_NOTEBOOK_DATA", raising=False)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=900, kernel_name=kernel_name(), resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()
    images = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})
    ]
    assert images, f"{path.name} shows no plot"
