"""Canonical public releases of the corpora, pinned by URL and SHA-256, and fetching them.

A download is streamed to a temporary file beside its destination, checked against the pinned
size and SHA-256, and only then renamed into place, so a reader never sees a partial or
unverified file.  Where the pins come from is documented in docs/tasks.md.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen

from ..limits import MAX_DOWNLOAD_ENV, LimitError, ensure_space, max_download_bytes
from ..store import remove_if_writer_dead, writing_name
from .base import DataError

TIMEOUT_S = 60


@dataclass(frozen=True)
class Remote:
    """One pinned file: where to fetch it and what its bytes must hash to."""

    url: str
    sha256: str
    size: int


_UD = "https://raw.githubusercontent.com/UniversalDependencies"
_STREUSLE = "https://raw.githubusercontent.com/nert-nlp/streusle/v4.7"
_TREC = "https://cogcomp.seas.upenn.edu/Data/QA/QC"

REMOTES: dict[str, Remote] = {
    # UD r2.7: checksums as published in Hugging Face's universal_dependencies dataset_infos.json.
    "ud_partut/en_partut-ud-train.conllu": Remote(
        f"{_UD}/UD_English-ParTUT/r2.7/en_partut-ud-train.conllu",
        "1f83b28a320b506a476c3ba375b10f156e6bf11ab81fdef4934830c1f612e251", 2380169),
    "ud_partut/en_partut-ud-dev.conllu": Remote(
        f"{_UD}/UD_English-ParTUT/r2.7/en_partut-ud-dev.conllu",
        "27a1e61f41233bd1ce673918cae31068d786e901dec4ed9fa21c1db34ebe7237", 152194),
    "ud_partut/en_partut-ud-test.conllu": Remote(
        f"{_UD}/UD_English-ParTUT/r2.7/en_partut-ud-test.conllu",
        "7d1af5ae57e83647ca4d9ff85c555f91ee0e63b0e2bd7c00ca7a92b3e66cdeda", 187923),
    "ud_ewt/en_ewt-ud-train.conllu": Remote(
        f"{_UD}/UD_English-EWT/r2.7/en_ewt-ud-train.conllu",
        "4e45f7b6f6d4e8d33e0ba7090fc37f2385a91711edb20d456d3fb5f45ac0fc28", 13469758),
    "ud_ewt/en_ewt-ud-dev.conllu": Remote(
        f"{_UD}/UD_English-EWT/r2.7/en_ewt-ud-dev.conllu",
        "57703dcd3b04c32dda6cb7c2a9d836daf65c2b9141a670163693d230b46559c8", 1711407),
    "ud_ewt/en_ewt-ud-test.conllu": Remote(
        f"{_UD}/UD_English-EWT/r2.7/en_ewt-ud-test.conllu",
        "25ef2d6fe772b8f05be374e093693f14284ccdd870fc27a9295f7e5a0fc3253a", 1712757),
    # STREUSLE 4.7: checksums of the shared copy (not confirmed against GitHub; see docs).
    "streusle/streusle.ud_dev.json": Remote(
        f"{_STREUSLE}/dev/streusle.ud_dev.json",
        "13f25f8872b99b015c6bb0f7e8bd6dc2d60f6cf66347da2cb0cbdf0583fb2f51", 1879655),
    "streusle/streusle.ud_test.json": Remote(
        f"{_STREUSLE}/test/streusle.ud_test.json",
        "e54abc9e09ac641da8030357acd2d68c20c37cd9e92e9fa09d29d9090d4cb108", 1875717),
    # TREC (Li & Roth): checksums as published in Hugging Face's trec dataset_infos.json.
    "trec/train_5500.label": Remote(
        f"{_TREC}/train_5500.label",
        "9e4c8bdcaffb96ed61041bd64b564183d52793a8e91d84fc3a8646885f466ec3", 335858),
    "trec/TREC_10.label": Remote(
        f"{_TREC}/TREC_10.label",
        "033f22c028c2bbba9ca682f68ffe204dc1aa6e1cf35dd6207f2d4ca67f0d0e8e", 23354),
}


class Unreachable(OSError):
    """The remote could not be fetched (no network, HTTP error, timeout)."""


def fetch(remote: Remote, dest: Path) -> Path:
    """Download ``remote`` to ``dest`` atomically after checking its size and SHA-256.

    A file pinned larger than the download cap is not fetched, and a transfer stops as soon as
    it runs past the pinned size or the cap.
    """
    if remote.size > (limit := max_download_bytes()):
        raise LimitError(f"{remote.url} is {remote.size} bytes, more than the download cap of {limit} bytes "
                         f"(set ${MAX_DOWNLOAD_ENV} to raise it)")
    ensure_space(dest.parent, remote.size, f"downloading {remote.url}")
    if dest.parent.is_dir():  # what downloads of this file killed on this host left behind
        for leftover in dest.parent.glob(f".{dest.name}.part.*"):
            remove_if_writer_dead(leftover)
    tmp = dest.with_name(writing_name(f".{dest.name}.part"))
    digest, size = hashlib.sha256(), 0
    try:
        try:
            with urlopen(remote.url, timeout=TIMEOUT_S) as response:
                dest.parent.mkdir(parents=True, exist_ok=True)
                with open(tmp, "wb") as out:
                    while block := response.read(1 << 20):
                        digest.update(block)
                        out.write(block)
                        size += len(block)
                        if size > remote.size:
                            raise DataError(remote.url, None, f"the download runs past its pinned size of "
                                                              f"{remote.size} bytes; nothing was kept")
                    out.flush()
                    os.fsync(out.fileno())
        except OSError as exc:
            raise Unreachable(f"cannot download {remote.url}: {getattr(exc, 'reason', exc)}") from exc
        if size != remote.size or digest.hexdigest() != remote.sha256:
            raise DataError(remote.url, None,
                            f"download does not match its pinned checksum: expected {remote.size} "
                            f"bytes with SHA-256 {remote.sha256}, got {size} bytes with "
                            f"{digest.hexdigest()}; nothing was kept")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest
