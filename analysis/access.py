"""Who may do what from the dashboard: viewer (read-only), user (starts jobs, cancels its own) or operator.

The decision lives here, apart from Streamlit, so it can be tested; ``ui`` applies it.

* ``--viewer`` after ``streamlit run app.py --`` or ``FTGEO_VIEWER=1``: every session is a viewer.
* Otherwise a server that listens on a non-loopback address is viewer-only by default (``FTGEO_VIEWER=0``
  opts out), and a loopback server's sessions are operators (whoever reaches loopback is on the machine).
* With ``FTGEO_TOKEN`` set, a session that enters that token is an operator; one that does not is a viewer
  on a network address and a user (its own jobs only) on loopback.

What the browser may name is checked here too (:func:`check_model`).
"""
from __future__ import annotations

import hmac
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .config import PROJECT_ROOT, data_dir

VIEWER, USER, OPERATOR = "viewer", "user", "operator"
VIEWER_ENV = "FTGEO_VIEWER"
TOKEN_ENV = "FTGEO_TOKEN"
MODEL_ROOTS_ENV = "FTGEO_MODEL_ROOTS"


@dataclass(frozen=True)
class Access:
    """A session's rights: ``role`` and whether it could become an operator by entering the token."""

    role: str
    token_accepted: bool = False

    @property
    def can_start(self) -> bool:
        """Start jobs and computations."""
        return self.role != VIEWER

    def can_cancel(self, job_owner: str | None, session_owner: str) -> bool:
        """Cancel a job: an operator any, a user only the jobs its own session started."""
        if self.role == OPERATOR:
            return True
        return self.role == USER and job_owner is not None and hmac.compare_digest(job_owner, session_owner)


def is_loopback(address: str | None) -> bool:
    """Whether a server address only accepts connections from this machine ('' or None: every interface)."""
    if not address:
        return False
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost may resolve to anything
        return False


def viewer_flag(argv: Sequence[str], environ: dict[str, str] | os._Environ) -> bool | None:
    """``True`` when viewer mode is asked for, ``False`` when explicitly declined (``FTGEO_VIEWER=0``), else ``None``."""
    if "--viewer" in argv:
        return True
    value = environ.get(VIEWER_ENV, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return None


def token_matches(entered: str | None, configured: str | None) -> bool:
    """Whether the entered operator token equals the configured one (constant-time; no token configured: never)."""
    if not configured or not entered:
        return False
    return hmac.compare_digest(entered.encode(), configured.encode())


def decide(address: str | None, viewer: bool | None, token: str | None, entered: str | None) -> Access:
    """A session's access from the server address, the viewer switch, the configured and the entered token."""
    if viewer:
        return Access(VIEWER)
    if token_matches(entered, token):
        return Access(OPERATOR, token_accepted=True)
    if is_loopback(address):
        return Access(USER if token else OPERATOR)
    return Access(USER if viewer is False else VIEWER)


ABSOLUTE_PATH = re.compile(r"(?<![\w.~/\\\]\x00…-])/(?!/)[^\s'\"`,;:()\[\]{}<>|\x00]+")
"""An absolute POSIX path in free text: not part of a relative path, a ratio such as 1/2 or a URL's
``//host/...`` (a ``file://`` URL is handled first)."""

FILE_URL = re.compile(r"file://(/[^\s'\"`<>|]+)")


def hide_paths(text: str, named: dict[str, str] | None = None) -> str:
    """``text`` without the server's folder layout, for sessions that may not see it: each folder in
    ``named`` (longest first, whole path components only, spaces included) becomes its name (the
    store's root ``<store>``, say), any other absolute path its last part."""
    names = {}
    for i, (folder, name) in enumerate(sorted((named or {}).items(), key=lambda item: -len(item[0]))):
        folder = folder.rstrip("/")
        if folder:
            names[f"\x00{i}\x00"] = name
            text = re.sub(re.escape(folder) + r"(?=[/\s'\"`,;:)\]}>|]|$)", f"\x00{i}\x00", text)
    text = FILE_URL.sub(lambda m: "file://…/" + m.group(1).rstrip("/").rsplit("/", 1)[-1], text)
    text = ABSOLUTE_PATH.sub(lambda m: "…/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], text)
    for token, name in names.items():
        text = text.replace(token, name)
    return text


HUB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?")


def model_roots(store_root: Path, environ: dict[str, str] | os._Environ = os.environ) -> list[Path]:
    """The folders a model typed in the browser may lie under: the data folder, the store and
    ``$FTGEO_MODEL_ROOTS`` (separated by ``os.pathsep``)."""
    roots = [store_root, data_dir()]
    roots += [Path(p).expanduser() for p in environ.get(MODEL_ROOTS_ENV, "").split(os.pathsep) if p.strip()]
    return [r.resolve() for r in roots if r is not None]


def check_model(name: str, roots: Sequence[Path], known: Sequence[str] = (), cwd: Path = PROJECT_ROOT) -> str:
    """``name`` (stripped) if the browser may start work on it, else a ``ValueError`` that quotes only ``name``.

    Allowed: a model the store already holds (``known``), a hub-style name (``org/name``) that is not a
    folder here, or a local folder under one of ``roots`` (after following links).  Relative names are
    read from ``cwd``, where jobs run.
    """
    name = name.strip()
    if not name:
        raise ValueError("no model given")
    if name in known:
        return name
    local = cwd / Path(name).expanduser()
    if HUB_NAME.fullmatch(name) and not local.exists():
        return name
    folder = local.resolve()
    if not any(folder == root or folder.is_relative_to(root) for root in roots):
        raise ValueError(f"model {name!r} is neither a hub name (org/name) nor a folder under the data folder, the "
                         f"store or ${MODEL_ROOTS_ENV}")
    if not folder.is_dir():
        raise ValueError(f"model folder {name!r} does not exist")
    return name
