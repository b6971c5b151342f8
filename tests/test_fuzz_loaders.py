"""Generated and mutated corpus files fed to every loader: each ends in a task or a DataError, nothing else.

The seeds are small slices of the real corpora in ../shared/data; the mutations flip, insert and
delete bytes, shuffle, drop and repeat lines, and (for STREUSLE) replace parts of the JSON tree.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.tasks import DataError, TaskData, load_task

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"

LOADERS: dict[str, list[tuple[str, str, dict]]] = {
    # file suffix -> (task, split, options besides "files") run on each file
    "conllu": [("pos", "test", {}), ("dep", "test", {}), ("dep", "test", {"subtypes": True})],
    "json": [("ps-role", "test", {}), ("ps-fxn", "test", {})],
    "label": [("trec-6", "test", {}), ("trec-50", "test", {})],
    "csv": [("custom", "train", {}), ("custom", "test", {"kind": "word", "labels": ["NOUN", "VERB", "DET"]}),
            ("custom", "train", {"kind": "pair"})],
    "jsonl": [("custom", "train", {}), ("custom", "test", {"kind": "sentence", "labels": ["X", "Y"]}),
              ("custom", "train", {"format": "jsonl", "kind": "word"})],
}


def _conllu_slice() -> bytes:
    text = (SHARED / "ud_partut" / "en_partut-ud-test.conllu").read_text(encoding="utf-8")
    return ("\n\n".join(text.split("\n\n")[:3]) + "\n\n").encode()


def _streusle_slice() -> bytes:
    sentences = json.loads((SHARED / "streusle" / "streusle.ud_test.json").read_text(encoding="utf-8"))
    with_targets = [s for s in sentences if any(e.get("lexcat") == "P" for e in s["swes"].values())]
    return json.dumps(with_targets[:2], indent=1).encode()


def _trec_slice() -> bytes:
    return b"".join((SHARED / "trec" / "TREC_10.label").read_bytes().splitlines(keepends=True)[:8])


def _pos_rows() -> list[tuple[int, list[str], int, str]]:
    """(sentence id, words, target index, UPOS) from the first sentences of the ParTUT slice."""
    rows = []
    for n, block in enumerate(_conllu_slice().decode().split("\n\n")[:2]):
        words = [line.split("\t") for line in block.splitlines() if line and line[0].isdigit()]
        words = [w for w in words if w[0].isdigit()]
        rows += [(n, [w[1] for w in words], i, w[3]) for i, w in enumerate(words[:4])]
    return rows


def _csv_slice() -> bytes:
    lines = ["sentence,words,target,label"]
    for n, words, i, label in _pos_rows():
        text = " ".join(words).replace('"', '""')
        lines.append(f'{n},"{text}",{i},{label}')
    return ("\n".join(lines) + "\n").encode()


def _jsonl_slice() -> bytes:
    sentences: dict[int, dict] = {}
    for n, words, i, label in _pos_rows():
        sentences.setdefault(n, {"words": words, "targets": []})["targets"].append({"words": [i], "label": label})
    return "".join(json.dumps(s) + "\n" for s in sentences.values()).encode()


SEEDS = {"conllu": _conllu_slice(), "json": _streusle_slice(), "label": _trec_slice(),
         "csv": _csv_slice(), "jsonl": _jsonl_slice()}

NASTY = [b"\t", b"\n", b"\r", b'"', b"'", b",", b"{", b"}", b"[", b"]", b":", b"\x00", b"\xff", b"\xef\xbb\xbf",
         b"-", b".", b"0", b"-1", b"99999", b"_", b"#", b"?", b"null", b"[]", b"{}", b"\xc3", "\u00e9".encode(),
         b"[" * 3000, b"9" * 5000, b'"' + b"x" * 140_000 + b'"', b"p.Time", b"root", b"NUM:count"]


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` after a few byte- and line-level edits."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "lines", "truncate"]))
        at = draw(st.integers(0, len(data)))
        if op == "insert":
            data[at:at] = draw(st.sampled_from(NASTY) | st.binary(max_size=8))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        elif op == "replace":
            data[at:at + 1] = draw(st.sampled_from(NASTY))
        elif op == "truncate":
            del data[at:]
        else:
            lines = bytes(data).split(b"\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            edit = draw(st.sampled_from(["drop", "repeat", "swap", "blank"]))
            if edit == "drop":
                del lines[i]
            elif edit == "repeat":
                lines.insert(j, lines[i])
            elif edit == "swap":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines[i] = b""
            data = bytearray(b"\n".join(lines))
    return bytes(data)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-3, 60) | st.floats(allow_nan=False)
                           | st.sampled_from(["", "p.Time", "P", "??", "x"]),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                     max_size=3),
                           max_leaves=6)


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys and indices) into a JSON tree."""
    out = [prefix]
    if isinstance(value, dict):
        out += [p for k, v in value.items() for p in _paths(v, prefix + (k,))]
    elif isinstance(value, list):
        out += [p for i, v in enumerate(value) for p in _paths(v, prefix + (i,))]
    return out


@st.composite
def streusle_tree(draw: st.DrawFn) -> bytes:
    """The STREUSLE slice with a few of its JSON values replaced by generated ones."""
    tree = json.loads(SEEDS["json"])
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(tree)[1:]))
        parent = tree
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = draw(JSON_VALUES)
    return json.dumps(tree).encode()


def files(suffix: str) -> st.SearchStrategy[bytes]:
    generated = st.binary(max_size=200) | st.text(max_size=200).map(str.encode)
    options = [mutated(SEEDS[suffix]), generated]
    if suffix == "json":
        options.append(streusle_tree())
    return st.one_of(*options)


_counter = itertools.count()


def check_loaders(folder: Path, suffix: str, content: bytes) -> None:
    """Every loader of ``suffix`` files on ``content``: a consistent task or a DataError."""
    path = folder / f"f{next(_counter)}.{suffix}"
    path.write_bytes(content)
    try:
        for task, split, extra in LOADERS[suffix]:
            try:
                data = load_task(task, split, options={"files": {split: str(path)}, **extra})
            except DataError as exc:
                assert exc.path and str(exc).startswith(exc.path)
                continue
            assert_consistent(data)
    finally:
        path.unlink()


def assert_consistent(data: TaskData) -> None:
    assert data.n_targets > 0
    assert all(isinstance(w, str) for s in data.sentences for w in s)
    assert ((0 <= data.labels) & (data.labels < len(data.label_names))).all()
    for s, words in zip(data.target_sentence, data.target_words):
        assert 0 <= s < len(data.sentences)
        assert all(type(i) is int and 0 <= i < len(data.sentences[s]) for i in words)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def test_the_seeds_load(folder):
    for suffix, content in SEEDS.items():
        path = folder / f"seed.{suffix}"
        path.write_bytes(content)
        for task, split, extra in LOADERS[suffix]:
            if extra.get("kind") == "pair" or extra.get("kind") == "sentence":
                continue  # a word-target file read as pairs or sentences has only defects
            assert_consistent(load_task(task, split, options={"files": {split: str(path)}, **extra}))


FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.data_too_large])
SLOW = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.data_too_large])


@pytest.mark.parametrize("suffix", list(LOADERS))
def test_loaders_end_in_a_task_or_a_data_error(folder, suffix):
    FAST(given(files(suffix))(lambda content: check_loaders(folder, suffix, content)))()


@pytest.mark.slow
@pytest.mark.parametrize("suffix", list(LOADERS))
def test_loaders_end_in_a_task_or_a_data_error_long(folder, suffix):
    SLOW(given(files(suffix))(lambda content: check_loaders(folder, suffix, content)))()


OPTION_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
                             | st.sampled_from(["word", "pair", "csv", "jsonl", "partut", "train", "test"]),
                             lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                                 st.sampled_from(["train", "dev", "test", "x"]) | st.text(max_size=3), inner,
                                 max_size=3), max_leaves=5)
OPTIONS = st.dictionaries(st.sampled_from(["files", "format", "kind", "labels", "strict", "treebank", "subtypes"]),
                          OPTION_VALUES, max_size=4)


@settings(max_examples=300, deadline=None)
@given(task=st.sampled_from(["pos", "dep", "trec-6", "ps-role", "custom"]), options=OPTIONS)
def test_task_options_of_any_shape_end_in_a_value_error(task, options):
    """Options come from the command line and the dashboard as JSON: any shape is a ValueError at worst."""
    try:
        load_task(task, "test", options=options)
    except ValueError:
        pass
