"""The job store: durable, lock-protected state shared by runs and pytest-xdist workers.

Tuned weights, job ledgers and saved runs live under one root (``.ftb/`` by default).
Writes are atomic (temp file + rename), so a crash never leaves a half-written record.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock


class JobStore:
    """A directory of namespaced records with cross-process locks."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def dir(self, *parts: str) -> Path:
        """A directory under the root, created on demand."""
        path = self.root.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @contextmanager
    def lock(self, *parts: str) -> Iterator[None]:
        """Hold an exclusive inter-process lock named by ``parts`` (blocks until free)."""
        path = self.dir("locks", *parts[:-1]) / f"{parts[-1]}.lock"
        with FileLock(str(path)):
            yield

    def remove(self, *parts: str) -> None:
        """Delete a namespace and its locks (what is gone already is fine)."""
        shutil.rmtree(self.root.joinpath(*parts), ignore_errors=True)
        shutil.rmtree(self.root.joinpath("locks", *parts), ignore_errors=True)

    def read_json(self, *parts: str) -> Any | None:
        """The record at ``parts`` (a ``.json`` file), or ``None`` if there is none."""
        path = self.root.joinpath(*parts[:-1], f"{parts[-1]}.json")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def write_json(self, data: Any, *parts: str) -> Path:
        """Write the record at ``parts`` atomically and durably."""
        path = self.dir(*parts[:-1]) / f"{parts[-1]}.json"
        atomic_write(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False).encode())
        return path


def atomic_write(path: Path, data: bytes, public: bool = False) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never a part.

    The file is private (0600) unless ``public``: then it gets the user's umask, as any file the
    user writes (a report, which holds no secret)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if public:
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
