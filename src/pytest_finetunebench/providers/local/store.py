"""Where local models live: the job store, where a directory is taken as done only when complete,
and the Hugging Face cache, read offline.

A model is written into a temporary sibling, flushed to disk, marked complete and renamed into
place, by the process that holds the key's lock; every other process sees nothing or all of it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from ...store.jobstore import JobStore, atomic_write
from ..base import ProviderError

COMPLETE = ".complete"


def is_complete(path: Path) -> bool:
    return (path / COMPLETE).is_file()


def mark_complete(path: Path) -> None:
    atomic_write(path / COMPLETE, f"{time.strftime('%Y-%m-%dT%H:%M:%S')} pid {os.getpid()}\n".encode())


def fsync_tree(path: Path) -> None:
    """Flush every file (and directory) under ``path`` before it is published by a rename."""
    for root, _dirs, files in os.walk(path):
        for name in files:
            with open(os.path.join(root, name), "rb") as fh:
                os.fsync(fh.fileno())
        fd = os.open(root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def publish(tmp: Path, final: Path) -> None:
    """Make ``tmp`` (marked complete) appear as ``final``; the caller holds the lock for ``final``."""
    mark_complete(tmp)
    fsync_tree(tmp)
    if final.exists():  # an incomplete leftover of an interrupted run
        shutil.rmtree(final)
    os.replace(tmp, final)


def clear_stale(parent: Path, name: str) -> None:
    """Remove temporary directories interrupted runs left for ``name`` (caller holds its lock)."""
    for stale in parent.glob(f".{name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)


def dir_fingerprint(path: Path) -> str:
    """Identity of a model directory: its files' names, sizes and modification times."""
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:12]


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def hub_snapshot(repo_id: str) -> Path:
    """The directory of ``repo_id`` in the local Hugging Face cache, never downloaded here (offline)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True, cache_dir=_hub_cache()))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        raise ProviderError(
            f"local:{repo_id} is not in the Hugging Face cache ({_hub_cache()}); nothing is downloaded here; fix: on a"
            f" machine with network run `hf download {repo_id}` (or `huggingface-cli download {repo_id}`) into that"
            " cache, or set HF_HUB_CACHE to a cache that has it"
        ) from None


def _hub_cache() -> str:
    """The hub cache: ``HF_HUB_CACHE`` as it is now, else huggingface_hub's default."""
    from huggingface_hub import constants

    return os.environ.get("HF_HUB_CACHE") or str(constants.HF_HUB_CACHE)


def in_store(base: Path, store: JobStore, progress: Callable[[str], None]) -> Path:
    """``base`` where every node of a launched job reads it: itself when it is in the job store,
    else a copy made there once (``local/base/``, published like a model; links followed, so a Hugging
    Face snapshot's files are copied, not its links into the session node's cache)."""
    if base.resolve().is_relative_to(store.root.resolve()):
        return base
    ident = re.sub(r"[^\w.-]+", "-", str(base.resolve())).strip("-")[-80:] + f"-{dir_fingerprint(base)}"
    parent = store.dir("local", "base")
    final = parent / ident
    if is_complete(final):
        return final
    with store.lock("local", f"base-{ident}"):
        if is_complete(final):
            return final
        clear_stale(parent, ident)
        progress(f"{base}: copying into the job store (once), where every node of the job reads it: {final}")
        tmp = parent / f".{ident}.tmp-{os.getpid()}"
        shutil.copytree(base, tmp, symlinks=False)
        publish(tmp, final)
    return final
