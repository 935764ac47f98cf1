"""clausetag.io's shared helpers: the one atomic-write primitive and size wording."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clausetag.io import atomic_path, atomic_writer, human_bytes


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_path_file_appears_only_on_success(tmp_path: Path) -> None:
    final = tmp_path / "sub" / "model.onnx"
    with pytest.raises(RuntimeError), atomic_path(final) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("export failed")
    assert not final.exists() and list(final.parent.iterdir()) == []
    with atomic_path(final) as tmp:
        assert tmp.parent == final.parent and tmp.name.startswith(".model.onnx.")
        tmp.write_bytes(b"whole")
    assert final.read_bytes() == b"whole" and [p.name for p in final.parent.iterdir()] == ["model.onnx"]
    assert final.stat().st_mode & 0o777 == 0o666 & ~_umask()  # not mkstemp's private mode


def test_atomic_path_folder_replaces_the_old_one_whole(tmp_path: Path) -> None:
    final = tmp_path / "encoder"
    final.mkdir()
    (final / "old.bin").write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_path(final, directory=True) as tmp:
        (tmp / "new.bin").write_text("half")
        raise KeyboardInterrupt
    assert [p.name for p in final.iterdir()] == ["old.bin"]
    with atomic_path(final, directory=True) as tmp:
        (tmp / "new.bin").write_text("new")
    assert [p.name for p in final.iterdir()] == ["new.bin"]
    assert [p.name for p in tmp_path.iterdir()] == ["encoder"]  # neither the temporary nor the old folder
    assert final.stat().st_mode & 0o777 == 0o777 & ~_umask()


def test_atomic_writer_is_built_on_atomic_path(tmp_path: Path) -> None:
    out = tmp_path / "o.txt"
    with pytest.raises(ValueError), atomic_writer(out) as fh:
        fh.write("partial")
        raise ValueError
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with atomic_writer(out) as fh:
        fh.write("done")
    assert out.read_text() == "done"


@pytest.mark.parametrize(
    ("n", "text"), [(100, "100 bytes"), (2_500, "2.5 kB"), (52_428_800, "52.4 MB"), (3 * 10**9, "3.0 GB")]
)
def test_human_bytes(n: int, text: str) -> None:
    assert human_bytes(n) == text


def test_size_refusal_gives_bytes_when_the_rounded_sizes_look_equal(tmp_path: Path) -> None:
    from clausetag.io import _refuse_too_large

    assert "21.0 MB is larger than the 1.0 MB" in str(_refuse_too_large("f", 21_000_000, 10**6, "h"))
    message = str(_refuse_too_large("f.jsonl", 20 * 2**20 + 12, 20 * 2**20, "split it"))
    assert message == (
        "f.jsonl: 20,971,532 bytes is larger than the 20,971,520 bytes limit for one input (split it)"
    )
