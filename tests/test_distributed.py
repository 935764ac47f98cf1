"""The training entry point runs under torchrun with two CPU processes (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import tiny_train_argv


@pytest.mark.slow
def test_torchrun_two_processes(tiny_encoder: Path, small_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29533",
        "-m",
        "clausetag.cli",
        "train",
        *tiny_train_argv(tiny_encoder, small_corpus, out, "--num_train_epochs", "1", "--max_length", "32"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "model.safetensors").is_file()
    args = json.loads((out / "training_args.json").read_text())
    assert args["training"]["ddp_backend"] == "gloo"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dev"]["n"] == 198  # all of document 004 (EN + LV), scored once on rank 0
    assert "saved" in proc.stderr and proc.stderr.count("saved ") == 1  # only rank 0 writes
