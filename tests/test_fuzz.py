"""Property-based fuzzing of everything that reads untrusted input (issue 15).

Arbitrary bytes and arbitrary Unicode (lone surrogates included) may only ever
end in a result or a ``ClausetagError``, never in another exception, and each
example must finish within the deadline (a quadratic path shows up as a hang).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clausetag.errors import ClausetagError
from clausetag.inference.markup import strip_html, strip_markdown
from clausetag.inference.modeldir import ModelDir
from clausetag.inference.readers import read_inputs, read_jsonl_units, read_stdin
from clausetag.inference.segment import segment
from clausetag.io import is_blank

T = TypeVar("T")

FUZZ = settings(
    max_examples=int(os.environ.get("CLAUSETAG_FUZZ_EXAMPLES", "120")),  # more for a deeper local run
    deadline=3000,  # ms per example: generous for a shared CI machine, far below a hang
    suppress_health_check=[HealthCheck.too_slow],
)

#: Every code point, surrogates included (hypothesis leaves them out by default).
ANY_CHAR = st.characters(codec=None, exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=300)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=12,
)
MARKUP_TOKENS = st.sampled_from(
    [
        "<div>", "</div>", "<p>", "</p>", "<li>", "<ul>", "<pre>", "</pre>", "<br>", "<a href='", "<!--",
        "-->", ">", "<", "<script>", "</script>", "<style>", "&amp;", "&#", "**", "__", "*", "_", "`",
        "[", "](", ")", "![", "# ", "> ", "|", "---", "\n", "- ", "1. ", "e.g. ", "etc. ", "We keep data. ",
    ]
)  # fmt: skip
MARKUPISH = st.lists(MARKUP_TOKENS | ANY_TEXT, max_size=40).map("".join)


@contextmanager
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


def clean(call: Callable[[], T]) -> T | None:
    """The call's result, or None when it refused with a ClausetagError (anything else fails)."""
    try:
        return call()
    except ClausetagError as exc:
        assert str(exc) and "\n" not in str(exc), f"one line: {exc!r}"
        return None


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=True).encode()  # lone surrogates as \ud800 escapes


# --------------------------------------------------------------------------- input readers


@FUZZ
@given(data=st.binary(max_size=2000), suffix=st.sampled_from([".txt", ".md", ".html", ".jsonl", ""]))
def test_read_inputs_on_arbitrary_bytes(data: bytes, suffix: str) -> None:
    with folder() as tmp:
        path = tmp / f"input{suffix}"
        path.write_bytes(data)
        items = clean(lambda: read_inputs([str(path)]))
    for item in items or []:
        texts = [u.text for u in item.units()]
        for text in texts:
            text.encode("utf-8")  # every text can be written out


@FUZZ
@given(text=MARKUPISH, suffix=st.sampled_from([".md", ".html", ".txt"]))
def test_read_inputs_on_arbitrary_markup(text: str, suffix: str) -> None:
    with folder() as tmp:
        path = tmp / f"policy{suffix}"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        clean(lambda: read_inputs([str(path)]))


@FUZZ
@given(data=st.binary(max_size=2000), kind=st.sampled_from(["txt", "md", "html"]))
def test_read_stdin_on_arbitrary_bytes(data: bytes, kind: str) -> None:
    clean(lambda: read_stdin(kind, max_bytes=1000, stream=io.BytesIO(data)))


# --------------------------------------------------------------------------- the JSONL reader

RECORD = st.one_of(
    JSON,
    st.fixed_dictionaries({"text": JSON}, optional={"doc": JSON, "id": JSON, "labels": JSON}),
    st.fixed_dictionaries({"text": ANY_TEXT}, optional={"doc": ANY_TEXT, "id": JSON}),
)


@FUZZ
@given(records=st.lists(RECORD, max_size=6), junk=st.lists(st.binary(max_size=50), max_size=2))
def test_jsonl_reader_on_arbitrary_records(records: list[Any], junk: list[bytes]) -> None:
    data = b"\n".join([_dumps(r) for r in records] + junk)
    with folder() as tmp:
        path = tmp / "units.jsonl"
        path.write_bytes(data)
        units = clean(lambda: read_jsonl_units(path))
    for unit in units or []:
        assert isinstance(unit.text, str) and not is_blank(unit.text)
        json.dumps(unit.__dict__, ensure_ascii=False).encode("utf-8")  # output cannot fail


# --------------------------------------------------------------------------- the segmenter


@FUZZ
@given(text=ANY_TEXT | MARKUPISH, lang=st.sampled_from([None, "en", "lv", "de"]))
def test_segment_never_raises_and_offsets_hold(text: str, lang: str | None) -> None:
    for unit in segment(text, lang=lang):
        assert text[unit.start : unit.end] == unit.text
        assert not is_blank(unit.text)


@FUZZ
@given(text=ANY_TEXT | MARKUPISH)
def test_markup_strippers_never_raise(text: str) -> None:
    assert isinstance(strip_markdown(text), str)
    assert isinstance(strip_html(text), str)


# --------------------------------------------------------------------------- ModelDir.open

LABEL = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
CONFIG = st.fixed_dictionaries(
    {},
    optional={
        "id2label": JSON | st.dictionaries(st.sampled_from(["0", "1", "2"]), LABEL, max_size=3),
        "problem_type": st.sampled_from(["multi_label_classification", "regression"]) | JSON,
        "text_prefix": JSON,
        "max_position_embeddings": JSON,
    },
)
THRESHOLDS = st.fixed_dictionaries(
    {},
    optional={
        "thresholds": JSON | st.dictionaries(LABEL, JSON, max_size=3),
        "max_length": st.integers(min_value=1, max_value=10_000) | JSON,
    },
)


def _model_dir(tmp: Path, config: bytes, thresholds: bytes) -> Path:
    (tmp / "config.json").write_bytes(config)
    (tmp / "thresholds.json").write_bytes(thresholds)
    (tmp / "tokenizer.json").write_text("{}")
    return tmp


@FUZZ
@given(config=st.binary(max_size=300), thresholds=st.binary(max_size=300))
def test_modeldir_open_on_arbitrary_bytes(config: bytes, thresholds: bytes) -> None:
    with folder() as tmp:
        clean(lambda: ModelDir.open(_model_dir(tmp, config, thresholds)))


@FUZZ
@given(config=CONFIG, thresholds=THRESHOLDS, data=st.data())
def test_modeldir_open_on_arbitrary_json(config: dict, thresholds: dict, data: st.DataObject) -> None:
    """Structured files; half the time the threshold table names exactly config's labels."""
    labels = config.get("id2label")
    if isinstance(labels, dict) and data.draw(st.booleans()):
        thresholds["thresholds"] = {str(x): data.draw(JSON) for x in labels.values()}
        config["problem_type"] = "multi_label_classification"
    with folder() as tmp:
        clean(lambda: ModelDir.open(_model_dir(tmp, _dumps(config), _dumps(thresholds))))


def _model_files(
    label: Any, max_length: Any = 64, config: Any = None, thresholds: Any = None
) -> tuple[bytes, bytes]:
    base = {"problem_type": "multi_label_classification", "id2label": {"0": label}}
    table = {"thresholds": {str(label): 0.5}, "max_length": max_length}
    return _dumps(base if config is None else config), _dumps(table if thresholds is None else thresholds)


def _two_labels(config: dict[str, Any] | None = None, **thresholds: Any) -> tuple[bytes, bytes]:
    base = {"problem_type": "multi_label_classification", "id2label": {"0": "a", "1": "b"}}
    table = {"thresholds": {"a": 0.5, "b": 0.5, **thresholds}, "max_length": 64}
    return _dumps({**base, **(config or {})}), _dumps(table)


#: Wrongly typed model files, first found by the fuzzing above: each is one ClausetagError.
BAD_MODEL_FILES: dict[str, tuple[tuple[bytes, bytes], str]] = {
    "config.json not an object": (
        _model_files("a", config=0),
        "config.json: expected a JSON object, not a number",
    ),
    "config.json an array": (
        _model_files("a", config=[]),
        "config.json: expected a JSON object, not an array",
    ),
    "thresholds.json an array": (
        _model_files("a", thresholds=[0.5]),
        "thresholds.json: expected a JSON object, not an array",
    ),
    "id2label an array": (
        _model_files("a", config={"problem_type": "multi_label_classification", "id2label": ["a"]}),
        "config.json has no id2label",
    ),
    "id2label keys not ids": (_two_labels({"id2label": {"0": "a", "x": "b"}}), "id2label ids are not 0..1"),
    "a label that is a list": (_model_files([]), "id2label must map each id to a label name"),
    "a label that is a number": (_model_files(3), "id2label must map each id to a label name"),
    "an empty label": (_model_files(" "), "id2label: a label name is empty"),
    "a duplicated label": (_two_labels({"id2label": {"0": "a", "1": "a"}}), "duplicated labels: 'a'"),
    "a label with a lone surrogate": (_model_files("\ud800"), "a string holds a lone surrogate"),
    "a label missing from thresholds": (
        _model_files("a", thresholds={"thresholds": {}}),
        "only in config: ['a']",
    ),
    "thresholds an array": (_model_files("a", thresholds={"thresholds": [0.5]}), "no 'thresholds' table"),
    "threshold a string": (_two_labels(a="0.5"), "thresholds must be numbers in [0, 1] (['a'])"),
    "threshold true": (_two_labels(b=True), "thresholds must be numbers in [0, 1] (['b'])"),
    "threshold NaN": (_two_labels(a=float("nan")), "thresholds.json: NaN is not valid JSON"),
    "threshold negative": (_two_labels(a=-0.1), "thresholds must be numbers in [0, 1] (['a'])"),
    "threshold above 1": (_two_labels(b=2), "thresholds must be numbers in [0, 1] (['b'])"),
    "threshold null": (_two_labels(a=None), "thresholds must be numbers in [0, 1] (['a'])"),
    "max_length a string": (
        _model_files("a", "abc"),
        "max_length must be a whole number of at least 1, not 'abc'",
    ),
    "max_length null": (_model_files("a", None), "max_length must be a whole number of at least 1, not None"),
    "max_length a float": (_model_files("a", 64.5), "max_length must be a whole number"),
    "max_length true": (_model_files("a", True), "max_length must be a whole number"),
    "max_length negative": (_model_files("a", -1), "max_length must be a whole number"),
    "text_prefix a list": (_two_labels({"text_prefix": ["query: "]}), "text_prefix must be a string"),
    "JSON nested too deeply": (
        (b'{"id2label": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", b"{}"),
        "config.json: not valid JSON",
    ),
    "a 5000-digit number": (
        (_model_files("a")[0], b'{"max_length": ' + b"9" * 5000 + b"}"),
        "thresholds.json: not valid JSON",
    ),
}


@pytest.mark.parametrize("case", list(BAD_MODEL_FILES))
def test_modeldir_open_refuses_wrong_types(case: str) -> None:
    files, expected = BAD_MODEL_FILES[case]
    with folder() as tmp, pytest.raises(ClausetagError) as exc:
        ModelDir.open(_model_dir(tmp, *files))
    assert expected in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("case", ["config.json not an object", "a label that is a list", "max_length null"])
def test_from_pretrained_refuses_wrong_types(case: str) -> None:
    from clausetag.inference import ClauseClassifier

    files, expected = BAD_MODEL_FILES[case]
    with folder() as tmp, pytest.raises(ClausetagError) as exc:
        ClauseClassifier.from_pretrained(_model_dir(tmp, *files))
    assert expected in str(exc.value)


@pytest.mark.parametrize("path", [None, 5, b"model"])
def test_modeldir_open_refuses_a_path_of_another_type(path: Any) -> None:
    with pytest.raises(ClausetagError, match="the model directory must be a path"):
        ModelDir.open(path)
