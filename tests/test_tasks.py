"""Tasks on the real shared corpora: counts checked against plain line scans, every bad-input path."""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path

import pytest

from analysis.store import Store
from analysis.tasks import (TASKS, label_inventory, load_task, task_files, task_kind,
                            task_splits)
from analysis.tasks.base import DataError
from analysis.tasks.download import REMOTES, Remote, fetch

PARTUT = "ud_partut/en_partut-ud-{}.conllu"
TREC_FINE = {  # the Li & Roth taxonomy, written out independently of the loader
    "ABBR": "abb exp", "DESC": "def desc manner reason",
    "ENTY": "animal body color cremat currency dismed event food instru lang letter other plant "
            "product religion sport substance symbol techmeth termeq veh word",
    "HUM": "desc gr ind title", "LOC": "city country mount other state",
    "NUM": "code count date dist money ord other perc period speed temp volsize weight"}
TREC_LABELS = {f"{c}:{f}" for c, fs in TREC_FINE.items() for f in fs.split()}


@pytest.fixture(scope="module")
def load(shared_data):
    """``load_task`` on the shared corpora, each (task, split, options) parsed once per module."""
    cache = {}

    def _load(name, split, **options):
        key = (name, split, tuple(sorted(options.items())))
        if key not in cache:
            cache[key] = load_task(name, split, data_dir=shared_data, options=options or None)
        return cache[key]
    return _load


def conllu_scan(path: Path) -> dict:
    """Counts from a plain line scan of a CoNLL-U file (no parser)."""
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#")]
    words = [r for r in rows if r[0].isdigit()]
    return {"sentences": sum(1 for r in words if r[0] == "1"), "words": len(words),
            "upos": Counter(r[3] for r in words), "deprel": Counter(r[7] for r in words),
            "roots": sum(1 for r in words if r[6] == "0"),
            "ranges": sum(1 for r in rows if "-" in r[0]), "empty": sum(1 for r in rows if "." in r[0])}


def nonzero(counts: dict) -> dict:
    return {k: v for k, v in counts.items() if v}


# --- POS and DEP -------------------------------------------------------------------------------

@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_pos_matches_line_scan(load, shared_data, split):
    data, scan = load("pos", split), conllu_scan(shared_data / PARTUT.format(split))
    assert data.files == [shared_data / PARTUT.format(split)]
    assert data.kind == "word" and len(data.label_names) == 17
    assert data.n_targets == data.n_words == scan["words"]
    assert len(data.sentences) == scan["sentences"]
    assert nonzero(data.label_counts()) == dict(scan["upos"])
    assert all(len(w) == 1 for w in data.target_words) and data.skipped == []
    assert data.options == {"strict": False, "treebank": "partut"}


def test_partut_sizes_are_the_documented_ones(load):
    sizes = {s: (len(load("pos", s).sentences), load("pos", s).n_words) for s in ("train", "dev", "test")}
    assert sizes == {"train": (1781, 43504), "dev": (156, 2722), "test": (153, 3408)}


@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_dep_pairs_and_roots(load, shared_data, split):
    data, scan = load("dep", split), conllu_scan(shared_data / PARTUT.format(split))
    assert data.kind == "pair" and "root" not in data.label_names and len(data.label_names) == 36
    assert data.n_targets == scan["words"] - scan["roots"]
    assert len(data.skipped) == scan["roots"] == scan["sentences"]
    assert all(s.reason.startswith("root") for s in data.skipped)
    universal = Counter()
    for rel, n in scan["deprel"].items():
        if rel != "root":
            universal[rel.split(":")[0]] += n
    assert nonzero(data.label_counts()) == dict(universal)


def test_dep_targets_are_head_dependent_pairs(load, shared_data):
    data = load("dep", "dev")
    lines = (shared_data / PARTUT.format("dev")).read_text(encoding="utf-8").split("\n\n")[0]
    rows = [r.split("\t") for r in lines.splitlines() if r and r[0].isdigit()]
    expected = {(int(r[6]) - 1, int(r[0]) - 1): r[7].split(":")[0] for r in rows if r[6] != "0"}
    got = {data.target_words[i]: data.label_names[data.labels[i]]
           for i in range(data.n_targets) if data.target_sentence[i] == 0}
    assert got == expected


def test_dep_subtypes_option(load, shared_data):
    plain, sub = load("dep", "train"), load("dep", "train", subtypes=True)
    scan = conllu_scan(shared_data / PARTUT.format("train"))["deprel"]
    assert sub.target_words == plain.target_words
    assert sub.label_counts()["nmod:poss"] == scan["nmod:poss"] > 0
    assert sub.label_counts()["nmod"] == scan["nmod"]
    assert plain.label_counts()["nmod"] == sum(n for r, n in scan.items() if r.split(":")[0] == "nmod")
    assert "nmod:poss" not in plain.label_names
    assert sub.options["subtypes"] is True and plain.options["subtypes"] is False
    assert label_inventory("dep", {"subtypes": True}) == sub.label_names


def test_multiword_tokens_and_empty_nodes_in_ewt(load, shared_data):
    path = shared_data / "ud_ewt/en_ewt-ud-dev.conllu"
    data, scan = load("pos", "dev", treebank="ewt"), conllu_scan(path)
    assert data.files == [path]
    assert scan["ranges"] > 0 and scan["empty"] > 0
    assert data.n_targets == data.n_words == scan["words"]
    # the first sentence with a multiword token: its words are the integer-id lines only
    block = next(b for b in path.read_text(encoding="utf-8").split("\n\n")
                 if any(r.split("\t")[0].count("-") for r in b.splitlines() if not r.startswith("#")))
    rows = [r.split("\t") for r in block.splitlines() if not r.startswith("#")]
    surface = next(r[1] for r in rows if "-" in r[0])
    words = [r[1] for r in rows if r[0].isdigit()]
    assert words in data.sentences and surface not in words


def test_multiword_tokens_and_empty_nodes_synthetic(tmp_path):
    path = tmp_path / "mini.conllu"
    path.write_text("# text = I don't go\n"
                    "1\tI\tI\tPRON\tPRP\t_\t4\tnsubj\t_\t_\n"
                    "2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
                    "2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t_\t_\n"
                    "3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_\n"
                    "4\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_\n"
                    "4.1\tgo\tgo\tVERB\tVB\t_\t_\t_\t4:conj\t_\n\n")
    pos = load_task("pos", "test", options={"files": {"test": path}})
    assert pos.sentences == [["I", "do", "n't", "go"]]
    assert [pos.label_names[i] for i in pos.labels] == ["PRON", "AUX", "PART", "VERB"]
    dep = load_task("dep", "test", options={"files": {"test": path}})
    assert dep.target_words == [(3, 0), (3, 1), (3, 2)]
    assert [s.line for s in dep.skipped] == [6]


# --- STREUSLE: PS-fxn and PS-role --------------------------------------------------------------

def conllulex_scan(path: Path) -> dict:
    """SNACS targets from the .conllulex file (independent of the JSON the loader reads)."""
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#")]
    rows = [r for r in rows if r[0].isdigit()]
    targets = [r for r in rows if r[13].startswith("p.")]
    unlabelled = [r for r in rows if r[11] in {"P", "PP", "INF.P", "POSS", "PRON.POSS"}
                  and not r[13].startswith("p.")]
    return {"role": Counter(r[13] for r in targets), "fxn": Counter(r[14] for r in targets),
            "multiword": sum(1 for r in targets if r[10] != "_"), "unlabelled": len(unlabelled)}


@pytest.mark.parametrize("split,expected", [("dev", 462), ("test", 485)])
@pytest.mark.parametrize("name,field", [("ps-role", "role"), ("ps-fxn", "fxn")])
def test_streusle_matches_conllulex(load, shared_data, split, expected, name, field):
    data = load(name, split)
    scan = conllulex_scan(shared_data / f"streusle/streusle.ud_{split}.conllulex")
    assert data.files == [shared_data / f"streusle/streusle.ud_{split}.json"]
    assert data.n_targets == sum(scan[field].values()) == expected
    assert nonzero(data.label_counts()) == dict(scan[field])
    assert sum(len(w) > 1 for w in data.target_words) == scan["multiword"] > 0
    assert len(data.skipped) == scan["unlabelled"] > 0
    assert all("not a SNACS supersense" in s.reason for s in data.skipped)
    assert {s.reason.split(" is ")[1].split(",")[0] for s in data.skipped} <= {"'??'", "'`$'", "None"}


def test_streusle_inventory_is_snacs_2_6(load):
    names = label_inventory("ps-fxn")
    assert names == label_inventory("ps-role") == load("ps-role", "dev").label_names
    assert len(names) == len(set(names)) == 52 and names[0] == "p.Circumstance"
    assert {"p.Locus", "p.Possessor", "p.SetIteration", "p.Force"} <= set(names)
    assert "p.RateUnit" not in names  # renamed in SNACS 2.6


def test_streusle_multiword_target_text(load):
    data = load("ps-fxn", "test")
    multi = [data.target_text(i) for i in range(data.n_targets) if len(data.target_words[i]) > 1]
    assert all(len(t.split()) > 1 for t in multi)


def test_streusle_train_falls_back_to_dev_then_uses_train(load, shared_data, tmp_path):
    train = load("ps-fxn", "train")
    assert train.split == "train" and train.files == load("ps-fxn", "dev").files
    assert train.fingerprint() == load("ps-fxn", "dev").fingerprint()
    (tmp_path / "streusle").mkdir()
    for split, source in [("train", "test"), ("dev", "dev"), ("test", "test")]:
        (tmp_path / f"streusle/streusle.ud_{split}.json").symlink_to(
            shared_data / f"streusle/streusle.ud_{source}.json")
    full = load_task("ps-fxn", "train", data_dir=tmp_path)
    assert full.files == [tmp_path / "streusle/streusle.ud_train.json"] and full.n_targets == 485


# --- TREC ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("split,file,lines", [("train", "train_5500.label", 5444),
                                              ("test", "TREC_10.label", 499)])
def test_trec_matches_line_scan(load, shared_data, split, file, lines):
    raw = (shared_data / "trec" / file).read_bytes().decode("utf-8").splitlines()
    good = [line.split(" ", 1)[0] for line in raw
            if line.split(" ", 1)[0] in TREC_LABELS and line.isascii()]
    fine, coarse = load("trec-50", split), load("trec-6", split)
    assert len(raw) == lines
    assert fine.n_targets == coarse.n_targets == len(good)
    assert nonzero(fine.label_counts()) == dict(Counter(good))
    assert nonzero(coarse.label_counts()) == dict(Counter(g.split(":")[0] for g in good))
    assert fine.sentences == coarse.sentences and all(w == () for w in fine.target_words)
    assert len(fine.skipped) == len(raw) - len(good)
    assert (fine.kind, len(fine.label_names), len(coarse.label_names)) == ("sentence", 50, 6)


def test_trec_defects_of_the_shared_copy_are_reported(load):
    skipped = {s.line: s.reason for s in load("trec-50", "train").skipped}
    assert sorted(skipped) == [1335, 2693, 3028, 4451]
    assert "unknown label 'NUM:How'" in skipped[4451]
    assert all("non-ASCII" in skipped[n] for n in (1335, 2693, 3028))
    assert load("trec-50", "test").skipped == []


def test_trec_strict_raises_at_first_defect(shared_data):
    with pytest.raises(DataError) as err:
        load_task("trec-50", "train", data_dir=shared_data, options={"strict": True})
    assert err.value.line == 1335 and err.value.path.endswith("train_5500.label")


# --- shared behaviour ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", [t for t in TASKS if t != "custom"])
def test_inventory_is_fixed_across_splits(load, name):
    splits = task_splits(name)
    assert {tuple(load(name, s).label_names) for s in splits} == {tuple(label_inventory(name))}
    assert {load(name, s).kind for s in splits} == {task_kind(name)}


def test_unknown_task_split_and_option():
    with pytest.raises(ValueError, match="unknown task"):
        load_task("ner", "train")
    with pytest.raises(ValueError, match="has splits train, test"):
        task_files("trec-6", "dev")
    with pytest.raises(ValueError, match="no option"):
        load_task("pos", "train", options={"subtype": True})
    with pytest.raises(ValueError, match="treebank"):
        load_task("pos", "train", options={"treebank": "gum"})


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


GOOD = "1\tGo\tgo\tVERB\tVB\t_\t0\troot\t_\t_\n2\thome\thome\tNOUN\tNN\t_\t1\tobl\t_\t_\n\n"


@pytest.mark.parametrize("bad,line,problem", [
    ("1\tBad\tbad\tADJ\t_\t_\t0\troot\t_\n", 4, "9 tab-separated columns"),
    ("x\tBad\tbad\tADJ\t_\t_\t0\troot\t_\t_\n", 4, "not a valid ID"),
    ("1\tBad\tbad\tFOO\t_\t_\t0\troot\t_\t_\n", 4, "unknown label 'FOO'"),
])
def test_conllu_defects_are_skipped_or_raised(tmp_path, bad, line, problem):
    path = write(tmp_path / "bad.conllu", GOOD + bad + "\n" + GOOD)
    data = load_task("pos", "test", options={"files": {"test": path}})
    assert data.n_targets == 4 and len(data.skipped) == 1
    assert data.skipped[0].line == line and problem in data.skipped[0].reason
    with pytest.raises(DataError, match=problem) as err:
        load_task("pos", "test", options={"files": {"test": path}, "strict": True})
    assert (err.value.path, err.value.line) == (str(path), line)


def test_unknown_relation_and_bad_head(tmp_path):
    path = write(tmp_path / "rel.conllu", GOOD + "1\tGo\tgo\tVERB\t_\t_\t0\troot\t_\t_\n"
                                                 "2\tnow\tnow\tADV\t_\t_\t1\tfoo:bar\t_\t_\n"
                                                 "3\there\there\tADV\t_\t_\t9\tadvmod\t_\t_\n\n")
    data = load_task("dep", "test", options={"files": {"test": path}})
    defects = {s.line: s.reason for s in data.skipped if not s.reason.startswith("root")}
    assert "unknown relation 'foo:bar'" in defects[5] and "outside the sentence" in defects[6]
    with pytest.raises(DataError, match="itself or outside") as err:
        load_task("dep", "test", options={"files": {"test": write(tmp_path / "loop.conllu", GOOD.replace(
            "\t1\tobl", "\t2\tobl"))}, "strict": True})
    assert err.value.line == 2


@pytest.mark.parametrize("name,file,text,line,problem", [
    ("trec-6", "q.label", "NUM:count How many ?\nno label here\n", 2, "malformed line"),
    ("trec-6", "q.label", "NUM:count How many ?\nNUM:lots How many ?\n", 2, "unknown label 'NUM:lots'"),
    ("trec-6", "q.label", b"NUM:count How many ?\nNUM:count How \xf0 many ?\n", 2, "non-ASCII"),
    ("pos", "u.conllu", GOOD.encode() + b"1\tB\xe9\tb\tX\t_\t_\t0\troot\t_\t_\n", 4, "not UTF-8"),
    ("ps-fxn", "s.json", '[\n{"sent_id": "a",\n "toks": [}\n]', 3, "invalid JSON"),
])
def test_bad_lines_name_file_and_line(tmp_path, name, file, text, line, problem):
    path = write(tmp_path / file, text)
    with pytest.raises(DataError, match=problem) as err:
        load_task(name, "test", options={"files": {"test": path}, "strict": True})
    assert (err.value.path, err.value.line) == (str(path), line)


def streusle_sentence(label: str) -> dict:
    toks = [{"#": i + 1, "word": w} for i, w in enumerate(["Go", "to", "town"])]
    return {"sent_id": "s1", "toks": toks, "smwes": {},
            "swes": {"2": {"lexcat": "P", "ss": label, "ss2": label, "toknums": [2]}}}


def test_streusle_unknown_snacs_label(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps([streusle_sentence("p.Goal"), streusle_sentence("p.RateUnit")], indent=1))
    second = [n for n, line in enumerate(path.read_text().splitlines(), 1) if '"sent_id"' in line][1]
    data = load_task("ps-role", "test", options={"files": {"test": path}})
    assert data.n_targets == 1 and data.target_text(0) == "to"
    assert data.skipped[0].line == second > 1 and "unknown label 'p.RateUnit'" in data.skipped[0].reason


@pytest.mark.parametrize("make,problem", [
    (lambda d: write(d / "empty.label", "\n  \n"), "the file is empty"),
    (lambda d: (d / "folder.label").mkdir() or d / "folder.label", "not a file"),
    (lambda d: d / "missing.label", "no such file"),
])
def test_file_level_errors(tmp_path, make, problem):
    path = make(tmp_path)
    with pytest.raises(DataError, match=problem) as err:
        load_task("trec-6", "test", options={"files": {"test": path}})
    assert err.value.path == str(path) and err.value.line is None


def test_no_usable_targets_is_an_error(tmp_path):
    path = write(tmp_path / "junk.label", "this is not TREC\nneither is this\n")
    with pytest.raises(DataError, match=r"no usable trec-6 targets \(2 skipped"):
        load_task("trec-6", "test", options={"files": {"test": path}})


# --- data location and downloads ----------------------------------------------------------------

def test_missing_file_offline_names_the_setting(tmp_path):
    store = Store(tmp_path / "store")
    with pytest.raises(DataError) as err:
        load_task("pos", "test", data_dir=tmp_path / "nowhere", store=store)
    message = str(err.value)
    assert err.value.path == str(tmp_path / "nowhere" / PARTUT.format("test"))
    assert err.value.line is None
    assert "--data-dir" in message and "FTGEO_DATA_DIR" in message and "network disabled" in message
    assert not list(store.downloads.rglob("*"))


def test_fetch_verifies_and_writes_atomically(shared_data, tmp_path):
    source = shared_data / "trec/TREC_10.label"
    data = source.read_bytes()
    good = Remote(source.as_uri(), hashlib.sha256(data).hexdigest(), len(data))
    dest = fetch(good, tmp_path / "dl" / "trec" / "TREC_10.label")
    assert dest.read_bytes() == data and sorted(p.name for p in dest.parent.iterdir()) == ["TREC_10.label"]
    bad = Remote(source.as_uri(), "0" * 64, len(data))
    with pytest.raises(DataError, match="does not match its pinned checksum"):
        fetch(bad, tmp_path / "dl2" / "TREC_10.label")
    assert list((tmp_path / "dl2").iterdir()) == []


def test_fetch_removes_what_killed_downloads_of_this_host_left(shared_data, tmp_path):
    import socket
    import subprocess
    import sys

    from analysis.processes import ProcessId

    source = shared_data / "trec/TREC_10.label"
    data = source.read_bytes()
    folder = tmp_path / "dl"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    started, host = ProcessId.current().started, socket.gethostname()
    killed = folder / f".TREC_10.label.part.{dead.pid}.{started}.0123abcd@{host}"
    elsewhere = folder / f".TREC_10.label.part.{dead.pid}.{started}.0123abcd@another-host"
    for leftover in (killed, elsewhere):
        leftover.write_bytes(data[:100])
    fetch(Remote(source.as_uri(), hashlib.sha256(data).hexdigest(), len(data)), folder / "TREC_10.label")
    assert sorted(p.name for p in folder.iterdir()) == sorted([elsewhere.name, "TREC_10.label"])


def test_missing_file_is_downloaded_into_the_store(shared_data, tmp_path, monkeypatch):
    source = shared_data / "trec/TREC_10.label"
    data = source.read_bytes()
    monkeypatch.setitem(REMOTES, "trec/TREC_10.label",
                        Remote(source.as_uri(), hashlib.sha256(data).hexdigest(), len(data)))
    store = Store(tmp_path / "store")
    first = load_task("trec-6", "test", data_dir=tmp_path / "nowhere", store=store)
    assert first.files == [store.downloads / "trec/TREC_10.label"] and first.n_targets == 499
    monkeypatch.setitem(REMOTES, "trec/TREC_10.label", Remote("https://example.invalid/x", "0" * 64, 1))
    again = task_files("trec-6", "test", data_dir=tmp_path / "nowhere", store=store)
    assert again == first.files


def test_every_default_file_has_a_pinned_release_except_streusle_train():
    pinned = set(REMOTES)
    assert all(len(r.sha256) == 64 and r.size > 0 and r.url.startswith("https://") for r in REMOTES.values())
    assert {PARTUT.format(s) for s in ("train", "dev", "test")} <= pinned
    assert {"trec/train_5500.label", "trec/TREC_10.label", "streusle/streusle.ud_dev.json",
            "streusle/streusle.ud_test.json"} <= pinned
    assert "streusle/streusle.ud_train.json" not in pinned


# --- custom tasks -------------------------------------------------------------------------------

def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


WORD_ROWS = [{"words": ["The", "cat", "sat", "down"],
              "targets": [{"words": [1], "label": "N"}, {"words": [2, 3], "label": "V"}]},
             {"words": ["Dogs", "bark"], "targets": [{"words": [0], "label": "N"}]}]


def test_custom_jsonl_infers_kind_and_labels(tmp_path):
    train = jsonl(tmp_path / "train.jsonl", WORD_ROWS)
    test = jsonl(tmp_path / "test.jsonl", [{"words": ["A", "dog", "ran"], "targets": [
        {"words": [1], "label": "N"}, {"words": [2], "label": "ADJ"}, {"words": [5], "label": "V"}]}])
    options = {"files": {"train": train, "test": test}}
    assert task_kind("custom", options) == "word" and label_inventory("custom", options) == ["N", "V"]
    data = load_task("custom", "train", options=options)
    assert data.target_words == [(1,), (2, 3), (0,)] and data.target_text(1) == "sat down"
    assert data.options["kind"] == "word" and data.options["files"]["train"] == str(train)
    result = load_task("custom", "test", options=options)
    assert result.n_targets == 1 and [s.line for s in result.skipped] == [1, 1]
    assert "unknown label 'ADJ'" in result.skipped[0].reason and "out of range" in result.skipped[1].reason
    assert task_files("custom", "test", options=options) == [test, train]


def test_custom_csv_equals_jsonl(tmp_path):
    rows = "sentence,words,target,label\n" \
           "s1,The cat sat down,1,N\ns1,The cat sat down,2 3,V\ns2,Dogs bark,0,N\n"
    csv_data = load_task("custom", "train", options={"files": {"train": write(tmp_path / "t.csv", rows)}})
    json_data = load_task("custom", "train", options={"files": {"train": jsonl(tmp_path / "t.jsonl", WORD_ROWS)}})
    assert csv_data.fingerprint() == json_data.fingerprint()


def test_custom_pair_and_sentence_kinds(tmp_path):
    pairs = jsonl(tmp_path / "p.jsonl", [{"words": ["a", "b", "c"], "targets": [
        {"words": [0, 1], "label": "x"}, {"words": [0, 1, 2], "label": "x"}]}])
    data = load_task("custom", "train", options={"files": {"train": pairs}, "kind": "pair"})
    assert data.kind == "pair" and data.target_words == [(0, 1)]
    assert "(head, dependent)" in data.skipped[0].reason
    sentences = write(tmp_path / "s.csv", "sentence,words,target,label\n1,Is it ?,,Q\n2,It is .,,S\n")
    data = load_task("custom", "train", options={"files": {"train": sentences}, "labels": ["S", "Q"]})
    assert data.kind == "sentence" and list(data.labels) == [1, 0] and data.label_names == ["S", "Q"]


def test_custom_labels_file_and_bad_inputs(tmp_path):
    train = jsonl(tmp_path / "train.jsonl", WORD_ROWS)
    labels = write(tmp_path / "labels.txt", "V\nN\nADJ\n")
    options = {"files": {"train": train}, "labels": labels}
    assert label_inventory("custom", options) == ["V", "N", "ADJ"]
    assert task_files("custom", "train", options=options) == [train, labels]
    mixed = jsonl(tmp_path / "mixed.jsonl", [{"words": ["a"], "targets": [
        {"words": [0], "label": "x"}, {"words": [], "label": "y"}]}])
    with pytest.raises(DataError, match="declare options\\['kind'\\]") as err:
        load_task("custom", "train", options={"files": {"train": mixed}})
    assert err.value.line == 1
    no_header = write(tmp_path / "h.csv", "id,words,target,label\n1,a,0,x\n")
    with pytest.raises(DataError, match="lacks column\\(s\\) sentence") as err:
        load_task("custom", "train", options={"files": {"train": no_header}, "kind": "word"})
    assert err.value.line == 1
    clash = write(tmp_path / "c.csv", "sentence,words,target,label\n1,a b,0,x\n1,a c,1,x\n")
    data = load_task("custom", "train", options={"files": {"train": clash}})
    assert data.skipped[0].line == 3 and "other words than on line 2" in data.skipped[0].reason
    with pytest.raises(ValueError, match="needs options\\['labels'\\] or a 'train' file"):
        load_task("custom", "test", options={"files": {"test": train}})


def test_custom_reproduces_trec_from_real_data(load, tmp_path):
    trec6 = load("trec-6", "test")
    rows = [{"words": s, "targets": [{"words": [], "label": trec6.label_names[label]}]}
            for s, label in zip(trec6.sentences, trec6.labels)]
    path = jsonl(tmp_path / "trec.jsonl", rows)
    data = load_task("custom", "test", options={"files": {"test": path}, "labels": trec6.label_names})
    assert data.fingerprint() == trec6.fingerprint() and data.kind == "sentence"


def test_streusle_expression_without_token_numbers_is_skipped_with_its_line(tmp_path):
    broken = streusle_sentence("p.Goal")
    broken["swes"]["2"]["toknums"] = []
    path = tmp_path / "s.json"
    path.write_text(json.dumps([streusle_sentence("p.Goal"), broken], indent=1))
    second = [n for n, line in enumerate(path.read_text().splitlines(), 1) if '"sent_id"' in line][1]
    data = load_task("ps-role", "test", options={"files": {"test": path}})
    assert data.n_targets == 1 and data.skipped[0].line == second
    assert "'toknums' must be a non-empty list" in data.skipped[0].reason
    with pytest.raises(DataError, match="toknums") as err:
        load_task("ps-role", "test", options={"files": {"test": path}, "strict": True})
    assert err.value.line == second


def test_deeply_nested_json_is_a_data_error(tmp_path):
    path = write(tmp_path / "deep.json", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(DataError, match="nested too deeply"):
        load_task("ps-fxn", "test", options={"files": {"test": path}})
    lines = jsonl(tmp_path / "deep.jsonl", WORD_ROWS)
    lines.write_text(lines.read_text() + '{"words": ' + "[" * 100_000 + "\n")
    data = load_task("custom", "train", options={"files": {"train": lines}})
    assert data.n_targets == 3 and [(s.line, s.reason) for s in data.skipped] == [(3, "invalid JSON: nested too deeply")]


def test_csv_field_over_the_limit_names_its_line(tmp_path):
    path = write(tmp_path / "big.csv", "sentence,words,target,label\n1,a b,0,x\n2," + "w " * 70_000 + ",0,x\n")
    with pytest.raises(DataError, match="field larger than field limit") as err:
        load_task("custom", "train", options={"files": {"train": path}})
    assert err.value.line == 3


def test_unclosed_csv_quote_names_the_line_it_opened_on(tmp_path):
    rows = ["sentence,words,target,label", "1,a b,0,x", '2,"c d,1,y', "3,e f,0,x", "4,g h,1,y"]
    path = write(tmp_path / "open.csv", "\n".join(rows) + "\n")
    with pytest.raises(DataError, match="opened on line 3 runs on to line 5.*swallows the rest") as err:
        load_task("custom", "train", options={"files": {"train": path}, "kind": "word"})
    assert err.value.line == 3
    rows[3] = '3,e f",0,x'  # a stray quote two lines on closes it: that row is reported, the rest is kept
    path = write(tmp_path / "closed.csv", "\n".join(rows) + "\n")
    data = load_task("custom", "train", options={"files": {"train": path}, "kind": "word"})
    assert [t for t in map(data.target_text, range(data.n_targets))] == ["a", "h"]
    assert [s.line for s in data.skipped] == [3] and "runs on to line 4" in data.skipped[0].reason
    rows[3:] = ['3,"e\nf",0,x']  # a value over two lines that closes on the last line is only a defect
    path = write(tmp_path / "last.csv", "\n".join(rows[:2] + rows[3:]) + "\n")
    data = load_task("custom", "train", options={"files": {"train": path}, "kind": "word"})
    assert [s.line for s in data.skipped] == [3] and "runs on to line 4" in data.skipped[0].reason


@pytest.mark.parametrize("options,problem", [
    ({"files": {"train": 3}}, r"options\['files'\]\['train'\] must be a file path"),
    ({"files": {"train": ["a.csv"]}}, "must be a file path"),
    ({"files": ["a.csv"]}, r"options\['files'\] must map split names"),
    ({"files": {3: "a.csv"}}, "split names must be"),
    ({"files": {"train": "t.csv"}, "labels": 5}, r"options\['labels'\] must be a file path"),
    ({"files": {"train": "t.csv"}, "labels": {"a": 1}}, r"options\['labels'\] must be a file path"),
    ({"files": {"train": "t.csv"}, "labels": [["a"]]}, "must list label names"),
    ({"files": {"train": "t.csv"}, "kind": ["word"]}, "kind must be one of"),
    ({"files": {"train": "t.csv"}, "format": {}}, "format must be"),
])
def test_options_of_the_wrong_type_are_value_errors(tmp_path, monkeypatch, options, problem):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "t.csv", "sentence,words,target,label\n1,a b,0,x\n")
    with pytest.raises(ValueError, match=problem):
        load_task("custom", "train", options=options)
    with pytest.raises(ValueError, match="treebank must be one of"):
        load_task("pos", "test", options={"treebank": ["partut"]})
    with pytest.raises(ValueError, match="task options must be a mapping"):
        load_task("pos", "test", options=["files"])


SECRET = "hunter2-do-not-print"


def test_files_outside_the_data_roots_are_refused(tmp_path, monkeypatch, shared_data):
    from analysis.config import DATA_ROOTS_ENV

    outside, inside = tmp_path / "outside", tmp_path / "inside"
    outside.mkdir(), inside.mkdir()
    secret = write(outside / "secret.label", f"{SECRET}\n")
    monkeypatch.setenv(DATA_ROOTS_ENV, str(inside))
    for options in ({"files": {"test": str(secret)}}, {"files": {"test": str(outside / "missing")}}):
        with pytest.raises(ValueError, match=f"lies outside the data roots.*{DATA_ROOTS_ENV}") as err:
            load_task("trec-6", "test", options=options)
        assert SECRET not in str(err.value)
    (inside / "link.label").symlink_to(secret)  # a link inside a root does not open a way out
    with pytest.raises(ValueError, match="outside the data roots"):
        load_task("trec-6", "test", options={"files": {"test": str(inside / "link.label")}})
    with pytest.raises(ValueError, match=r"options\['labels'\] = .*outside the data roots"):
        load_task("custom", "test", options={"files": {"test": str(inside / "x.csv")}, "labels": str(secret)})
    trec = shared_data / "trec" / "TREC_10.label"  # the data folder is always a root
    assert load_task("trec-6", "test", options={"files": {"test": str(trec)}}).n_targets == 499
    monkeypatch.setenv(DATA_ROOTS_ENV, f"{inside}{os.pathsep}{outside}")  # now it is read
    with pytest.raises(DataError, match="no usable trec-6 targets"):
        load_task("trec-6", "test", options={"files": {"test": str(secret)}})


def test_file_content_is_quoted_only_within_the_data_roots(tmp_path, monkeypatch):
    from analysis.config import DATA_ROOTS_ENV
    from analysis.tasks import custom, trec, ud
    from analysis.tasks.builder import Builder

    folder = tmp_path / "files"
    folder.mkdir()
    label = write(folder / "q.label", f"{SECRET}\nNUM:{SECRET} How many ?\nNUM:count How {SECRET}\u00e9 ?\n")
    conllu = write(folder / "u.conllu", GOOD.replace("\tobl\t", f"\t{SECRET}\t"))
    table = write(folder / "c.csv", f"sentence,words,target,label\n1,a b,{SECRET},x\n1,c d,0,x\n")
    lines = write(folder / "c.jsonl", '{"words": ["a"], "targets": [{"words": "%s"}]}\n' % SECRET)

    def reasons() -> list[str]:
        builder = Builder("trec-6", "test", "sentence", ["NUM"])
        trec.build(label, builder, fine=False)
        ud.build_dep(conllu, builder, subtypes=False)
        for path, fmt in ((table, "csv"), (lines, "jsonl")):
            custom.build(path, fmt, "word", builder)
        return [s.reason for s in builder.skipped]

    monkeypatch.setenv(DATA_ROOTS_ENV, str(folder))
    quoted = reasons()  # TREC lines 1 and 2, the relation, the CSV target, the JSONL target
    assert sum(SECRET in r for r in quoted) == 5
    monkeypatch.setenv(DATA_ROOTS_ENV, str(tmp_path / "elsewhere"))
    hidden = reasons()
    assert len(hidden) == len(quoted) and not any(SECRET in r for r in hidden)
    changed = [(q, h) for q, h in zip(quoted, hidden) if q != h]
    assert len(changed) == 7 and all(f"${DATA_ROOTS_ENV}" in h for _, h in changed)


def test_paths_that_cannot_be_resolved_are_value_errors(monkeypatch):
    from analysis.config import DATA_ROOTS_ENV

    with pytest.raises(ValueError, match="cannot be resolved to a file"):
        load_task("custom", "train", options={"files": {"train": "~no-such-user-here/t.csv"}})
    monkeypatch.setenv(DATA_ROOTS_ENV, "~no-such-user-here")
    with pytest.raises(ValueError, match=f"\\${DATA_ROOTS_ENV} lists '~no-such-user-here', which cannot be resolved"):
        load_task("custom", "train", options={"files": {"train": "/tmp/t.csv"}})


def test_a_data_folder_or_store_given_on_the_command_line_is_a_data_root(tmp_path, capsys, monkeypatch):
    """``--data-dir`` and ``--store`` count as ``$FTGEO_DATA_DIR`` and ``$FTGEO_STORE`` do: their files
    may be read and their content quoted; other folders stay out."""
    from analysis.cli import main
    from analysis.config import DATA_ROOTS_ENV

    monkeypatch.setenv(DATA_ROOTS_ENV, str(tmp_path / "elsewhere"))

    data, other = tmp_path / "data", tmp_path / "other"
    data.mkdir(), other.mkdir()
    for folder in (data, other):
        write(folder / "q.jsonl", '{"words": ["a", "b"], "targets": [{"words": [0], "label": "%s"}]}\n' % SECRET)

    def embed(folder: Path, *where: str) -> str:
        files = json.dumps({"train": str(folder / "q.jsonl")})
        code = main(["embed", "--task", "custom", "--json", "-o", f"files={files}", "-o", 'labels=["x"]',
                     "-o", "strict=true", *where])
        assert code == 2
        return json.loads(capsys.readouterr().out)["error"]

    store = ["--store", str(tmp_path / "store")]
    assert "outside the data roots" in embed(data, *store)
    given = embed(data, "--data-dir", str(data), *store)  # read, and its content quoted in the error
    assert "q.jsonl:1" in given and SECRET in given
    assert "outside the data roots" in embed(other, "--data-dir", str(data), *store)
    downloads = tmp_path / "store" / "downloads"
    downloads.mkdir(parents=True)
    write(downloads / "q.jsonl", (data / "q.jsonl").read_text())
    assert SECRET in embed(downloads, *store)
