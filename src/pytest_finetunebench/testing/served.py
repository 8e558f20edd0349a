"""A real OpenAI-compatible server for tests: ``transformers serve`` on a Hugging Face folder, on a free port.

Not an emulator: the model generates its answers (greedy, on this machine's CPU). It needs
transformers' ``serving`` extra (FastAPI, uvicorn). Usage::

    with TransformersServer(folder, name="smollm2-135m") as server:
        os.environ.update(server.env())       # OPENAI_BASE_URL, OPENAI_API_KEY
        ...                                   # pytest --ftb-model=openai:smollm2-135m --ftb-tuned-elsewhere=...

The server is pinned to ``folder`` and answers the model ``name`` only (any other name: HTTP 400).
It is started in a session of its own, waited for until ``/health`` answers, and stopped by its
process id (its process group: the model worker it spawns goes with it). One OpenMP thread: with
the default (spinning) thread pool a loaded CPU makes each token 5-10x slower.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType

READY_TIMEOUT = 180.0  # seconds: about 20-30 s on 2 idle cores (importing, loading the model)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class TransformersServer:
    """``transformers serve`` on ``folder`` as model ``name``, a context manager (see the module's docstring)."""

    def __init__(self, folder: Path, name: str, *, host: str = "127.0.0.1", threads: int = 1) -> None:
        self.folder, self.name, self.host, self.threads = Path(folder), name, host, threads
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self.log: Path | None = None

    @property
    def base_url(self) -> str:
        """The SDK's ``base_url``: ``http://host:port/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    def env(self) -> dict[str, str]:
        """The environment that points the ``openai`` SDK here (the server checks no key)."""
        return {"OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": "not-checked"}

    def __enter__(self) -> TransformersServer:
        self._workdir = tempfile.TemporaryDirectory(prefix="ftb-serve-")
        work = Path(self._workdir.name)
        (work / self.name).symlink_to(self.folder.resolve(), target_is_directory=True)  # served under this name
        self.port, self.log = free_port(self.host), work / "serve.log"
        command = [
            sys.executable,
            "-c",
            "from transformers.cli.transformers import main; main()",
            "serve",
            self.name,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--device",
            "cpu",
            "--log-level",
            "warning",
        ]
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads)}
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None and self.log is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"transformers serve exited with {self.process.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"http://{self.host}:{self.port}/health", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"transformers serve not ready after {READY_TIMEOUT:g} s (log: {self.log})")
            time.sleep(0.25)

    def stop(self) -> None:
        """Stop the server by its process id (its whole process group), then remove its folder."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)  # its group: start_new_session made pid == pgid
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):  # a worker left behind by its parent
                os.killpg(self.process.pid, signal.SIGKILL)
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
