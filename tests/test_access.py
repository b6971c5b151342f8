"""Who may do what from the browser, what it may name, and where the server listens by default."""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from analysis.access import (OPERATOR, USER, VIEWER, Access, check_model, decide, hide_paths, is_loopback, model_roots,
                             viewer_flag)
from analysis.config import PROJECT_ROOT


def test_the_configured_server_address_is_loopback():
    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    assert is_loopback(config["server"]["address"])


@pytest.mark.parametrize("address, loopback", [
    ("127.0.0.1", True), ("127.0.1.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("", False), (None, False), ("::", False), ("192.168.1.20", False), ("myhost", False),
])
def test_loopback_addresses(address, loopback):
    assert is_loopback(address) is loopback


def test_viewer_switch_from_argv_or_environment():
    assert viewer_flag(["app.py", "--viewer"], {}) is True
    assert viewer_flag(["app.py"], {"FTGEO_VIEWER": "1"}) is True
    assert viewer_flag(["app.py"], {"FTGEO_VIEWER": "0"}) is False
    assert viewer_flag(["app.py"], {}) is None


@pytest.mark.parametrize("address, viewer, token, entered, role", [
    ("127.0.0.1", None, None, None, OPERATOR),      # local use: the machine's own user
    ("127.0.0.1", True, None, None, VIEWER),        # --viewer / FTGEO_VIEWER=1
    ("127.0.0.1", True, "s3cret", "s3cret", VIEWER),  # an explicit viewer stays read-only
    ("0.0.0.0", None, None, None, VIEWER),          # on a network: read-only by default
    ("0.0.0.0", None, "s3cret", None, VIEWER),
    ("0.0.0.0", None, "s3cret", "wrong", VIEWER),
    ("0.0.0.0", None, "s3cret", "s3cret", OPERATOR),
    ("0.0.0.0", False, None, None, USER),           # FTGEO_VIEWER=0: asked for, own jobs only
    ("127.0.0.1", None, "s3cret", None, USER),
    ("127.0.0.1", None, "s3cret", "s3cret", OPERATOR),
    ("0.0.0.0", None, "", "", VIEWER),              # an empty token is no token
])
def test_access_decision(address, viewer, token, entered, role):
    assert decide(address, viewer, token, entered).role == role


def test_rights_of_each_role():
    viewer, user, operator = Access(VIEWER), Access(USER), Access(OPERATOR)
    assert not viewer.can_start and user.can_start and operator.can_start
    assert not viewer.can_cancel("me", "me")
    assert user.can_cancel("me", "me") and not user.can_cancel("other", "me") and not user.can_cancel(None, "me")
    assert operator.can_cancel("other", "me") and operator.can_cancel(None, "me")


def test_models_typed_in_the_browser(tmp_path, monkeypatch):
    store_root, data, extra, outside = (tmp_path / d for d in ("store", "data", "models", "elsewhere"))
    for folder in (store_root / "work" / "run-x", data / "bert", extra / "mine", outside / "secret"):
        folder.mkdir(parents=True)
    (data / "link").symlink_to(outside / "secret")
    monkeypatch.setenv("FTGEO_DATA_DIR", str(data))
    roots = model_roots(store_root, {"FTGEO_MODEL_ROOTS": os.pathsep.join([str(extra), ""])})
    assert roots == [store_root.resolve(), data.resolve(), extra.resolve()]
    ok = ["bert-base-uncased", "google/bert_uncased_L-2_H-128_A-2", str(data / "bert"), str(extra / "mine"),
          str(store_root / "work" / "run-x"), f"{data}/../data/bert"]
    for name in ok:
        assert check_model(name, roots, cwd=tmp_path) == name
    refused = [str(outside / "secret"), str(data / "link"), "/", "/etc", "~", "..", "../x", "./elsewhere/secret",
               "elsewhere/secret", "a/b/c", f"{data}/../elsewhere/secret", str(data / "missing/..") + "/../elsewhere"]
    for name in refused:
        with pytest.raises(ValueError, match="neither a hub name"):
            check_model(name, roots, cwd=tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        check_model(str(data / "missing"), roots, cwd=tmp_path)
    with pytest.raises(ValueError, match="no model"):
        check_model("  ", roots, cwd=tmp_path)
    assert check_model("/somewhere/else/stored", roots, known=["/somewhere/else/stored"]) == "/somewhere/else/stored"


@pytest.mark.parametrize("text, shown", [
    ("StoreError: /srv/ftgeo/store/entries/embed-ce11/layer_06.npy: cannot read array ([Errno 2] No such file or "
     "directory: '/srv/ftgeo/store/entries/embed-ce11/layer_06.npy')",
     "StoreError: <store>/entries/embed-ce11/layer_06.npy: cannot read array ([Errno 2] No such file or "
     "directory: '<store>/entries/embed-ce11/layer_06.npy')"),
    ("model /home/alice/models/bert-x failed", "model …/bert-x failed"),
    ('File "/home/alice/ftgeo/analysis/store.py", line 3', 'File "…/store.py", line 3'),
    ("see https://huggingface.co/org/name, 1/2 of a/b/c, ~/models", "see https://huggingface.co/org/name, 1/2 of a/b/c, "
     "~/models"),
    ('File "/srv/ftgeo/store/entries/a b/x.npy"', 'File "<store>/entries/a b/x.npy"'),  # a named folder: spaces too
    ("/srv/ftgeo/store-old/x and /srv/ftgeo/store", "…/x and <store>"),  # whole path components only
    ("see file:///home/alice/private/report.html", "see file://…/report.html"),
    ("nfs01:/export/alice/data, PYTHONPATH=/opt/a/lib:/opt/secret/lib, =>/srv/x", "nfs01:…/data, PYTHONPATH=…/lib:…/lib, =>…/x"),
    ("http://[::1]/status", "http://[::1]/status"),
])
def test_messages_for_viewers_name_no_server_folder(text, shown):
    assert hide_paths(text, {"/srv/ftgeo/store/": "<store>"}) == shown
