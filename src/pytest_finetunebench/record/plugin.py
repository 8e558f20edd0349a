"""The session's recorder (a pytest plugin): which cassette each model uses under ``--ftb-record-mode``, opened once,
saved at the end."""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from ..providers import REGISTRY, ProviderSpec
from ..providers.base import TuneRequest
from ..store.jobstore import JobStore
from .cassette import FORMAT, Cassette, CassetteError, _now, _relative, exists, read
from .scrub import credential_file_secrets, env_secrets
from .vcr import require_vcrpy, use

MODES = ("none", "once", "new_episodes", "all", "off")

DEFAULT_MODE = "none"


def model_dir(model: str) -> str:
    """A directory name for a model as the user typed it (``ft:a:b`` -> ``ft_a_b``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("_") or "model"


class Recorder:
    """The session's cassettes: one per tuned-model key, open all session, saved at its end.

    Also a pytest plugin object: checks before the first test that every HTTP model has its
    cassette (in ``none`` mode), saves at session end and prints what it did.
    """

    def __init__(
        self,
        directory: Path,
        mode: str,
        store: JobStore,
        session: str | None = None,
        *,
        worker: bool = False,
        specs: Sequence[ProviderSpec] = REGISTRY,
    ) -> None:
        if mode not in MODES:
            raise pytest.UsageError(f"--ftb-record-mode={mode}: expected one of {', '.join(MODES)}")
        self.directory = Path(directory)
        self.mode = mode
        self.store = store
        self.session = session or uuid.uuid4().hex
        self.worker = worker
        self.specs: dict[str, ProviderSpec] = {}
        for spec in specs:  # the first spec of a name serves it (plugins' before the built-in ones)
            self.specs.setdefault(spec.name, spec)
        self.cassettes: dict[Path, Cassette] = {}
        self.saved: list[Path] = []
        self._lock = threading.Lock()
        self._by_model: dict[tuple[str, str], Cassette] = {}
        self._replay_store: JobStore | None = None

    @classmethod
    def from_options(
        cls,
        opts: Mapping[str, Any],
        rootdir: Path,
        store: JobStore,
        worker: Mapping[str, Any] | None = None,
        specs: Sequence[ProviderSpec] = REGISTRY,
    ) -> Recorder:
        mode = opts.get("record_mode") or DEFAULT_MODE
        if opts.get("dry_run"):
            mode = "off"  # a dry run sends nothing to record and needs nothing to replay
        directory = Path(opts["cassettes"]) if opts.get("cassettes") else rootdir / "cassettes"
        return cls(
            directory, mode, store, worker["testrunuid"] if worker else None, worker=worker is not None, specs=specs
        )

    def path(self, provider: str, request: TuneRequest) -> Path:
        return self.directory / provider / model_dir(request.model) / f"{request.key()}.json"

    def wants(self, provider: str) -> bool:
        spec = self.specs.get(provider)
        return self.mode != "off" and (spec is None or spec.http)

    def missing_message(self, provider: str, request: TuneRequest, path: Path) -> str:
        return (
            f"no cassette for {request.model} ({provider}, {len(request.pairs)} training pairs, key {request.key()}) "
            f"at {_relative(path)};"
            " three ways on: the provider's API key with --ftb-record-mode=once (tunes, answers and records this "
            "cassette;"
            " --ftb-record-mode=off runs live without one), a cassette recorded with the same cases and settings"
            " (--ftb-cassettes=DIR), or --ftb-responses=DIR to re-grade published answers"
        )

    def cassette(self, provider: str, request: TuneRequest) -> Cassette:
        path = self.path(provider, request)
        with self._lock:
            if path in self.cassettes:
                return self.cassettes[path]
            data = read(path)
            if data is None and self.mode == "none":
                raise CassetteError(self.missing_message(provider, request, path))
            meta = {
                "format": FORMAT,
                "provider": provider,
                "model": request.model,
                "key": request.key(),
                "training_pairs": len(request.pairs),
                "settings": asdict(request.settings),
                "recorded_at": _now(),
                "recorded_with": _versions(spec.sdks if (spec := self.specs.get(provider)) else ()),
            }
            self.cassettes[path] = cassette = Cassette(path, self.mode, meta, data, self.session)
            self._by_model[(provider, request.model)] = cassette
            return cassette

    def recording(self, provider: str, request: TuneRequest) -> AbstractContextManager[Any]:
        """The seam :class:`RunContext` calls around every provider call for ``request``'s model."""
        if not self.wants(provider):
            return nullcontext()
        spec = self.specs.get(provider)
        return use(self.cassette(provider, request), spec.replay_env if spec else ())

    def replay_store(self, provider: str, request: TuneRequest | str) -> JobStore | None:
        """The seam behind :meth:`RunContext.replaying` and :meth:`RunContext.ledger_store`.

        ``None`` unless every HTTP call for ``request``'s model (a :class:`TuneRequest`, or the
        model name, e.g. ``Endpoint.model``) replays from a cassette with no live request possible
        (mode ``none``; ``once`` with a cassette recorded before this session). While replaying:
        a job store private to this process and session, empty at first and deleted at session end,
        for the provider's ledger, so the replayed job never reaches the user's live ledger.
        """
        if not self.wants(provider):
            return None
        if isinstance(request, TuneRequest):
            cassette: Cassette | None = self.cassette(provider, request)
        else:
            with self._lock:
                cassette = self._by_model.get((provider, request))
        replaying = cassette.write_protected if cassette is not None else self.mode == "none"
        if not replaying:
            return None
        with self._lock:
            if self._replay_store is None:
                self._replay_store = JobStore(tempfile.mkdtemp(prefix="ftb-replay-store-"))
            return self._replay_store

    def close(self) -> None:
        """Delete the replay job store (the session is over)."""
        with self._lock:
            store, self._replay_store = self._replay_store, None
        if store is not None:
            shutil.rmtree(store.root, ignore_errors=True)

    def save(self) -> list[Path]:
        secrets = env_secrets() | credential_file_secrets()
        for cassette in list(self.cassettes.values()):
            written = cassette.save(self.store, self.session, secrets)
            if written is not None:
                self.saved.append(written)
        return self.saved

    # pytest hooks ------------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """In ``none`` mode, a missing cassette stops the run before anything runs (one line);
        ``--collect-only`` runs nothing, so it only lists."""
        if self.mode == "off" or session.config.option.collectonly:
            return
        from ..run.answer import EVALUATION

        evaluation = session.config.stash.get(EVALUATION, None)
        if evaluation is None:
            return
        for model in evaluation.models:
            provider = evaluation.tuner.spec(model).name
            if not self.wants(provider):
                continue
            require_vcrpy()
            if self.mode != "none" or self.worker:
                continue
            request = evaluation.request(model)
            path = self.path(provider, request)
            if not exists(path):
                raise pytest.UsageError(self.missing_message(provider, request, path))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        try:
            self.save()
        finally:
            self.close()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        used = [c for c in self.cassettes.values()]
        if not used:
            return
        replayed = sum(c.replayed for c in used)
        misses = sum(len(c.misses) for c in used)
        line = f"finetunebench: cassettes ({self.mode}): replayed {replayed} responses from {len(used)} cassette(s)"
        if misses:
            line += f", {misses} request(s) not in the cassette"
        terminalreporter.write_line(line)
        for path in self.saved:
            terminalreporter.write_line(f"finetunebench: cassette written: {_relative(path)}")


def _versions(sdks: tuple[str, ...]) -> dict[str, str]:
    """Python's version and those of the plugin, vcrpy and the provider's ``sdks`` (where installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for name in ("pytest-finetunebench", "vcrpy", *sdks):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out
