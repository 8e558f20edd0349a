"""The vcrpy adapter: requests routed to a cassette while it is in use, sleeps skipped and placeholder keys set while
it replays."""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

from .cassette import Cassette

MIN_VCRPY = (8, 2)

REPLAY_PLACEHOLDER = "ftb-cassette-replay-no-key"

# Set to "1" while a cassette replays (a process-wide hint; providers should ask RunContext.replaying).
REPLAY_FLAG = "FTB_REPLAY"

# Sleeps whose caller lives in these modules are skipped while a cassette replays.
SLEEPY_MODULES = ("openai", "anthropic", "google", "together", "httpx", "httpx2", "pytest_finetunebench.providers")


def require_vcrpy() -> Any:
    """vcrpy, if it is new enough to intercept httpx2; else a one-line usage error."""
    try:
        import vcr
    except ImportError:
        raise pytest.UsageError(
            "cassettes need vcrpy>=8.2: pip install 'pytest-finetunebench[record]' (or run live without cassettes: "
            "--ftb-record-mode=off)"
        ) from None
    version = tuple(int(p) for p in re.findall(r"\d+", vcr.__version__)[:2])
    if version < MIN_VCRPY:
        raise pytest.UsageError(
            f"vcrpy {vcr.__version__} is too old: openai>=3 talks through httpx2, which only vcrpy>=8.2 intercepts "
            "(older versions let its requests through unrecorded, silently); pip install -U 'vcrpy>=8.2'"
        )
    return vcr


_sleep_lock = threading.Lock()
_sleep_depth = 0
_real_sleep = time.sleep


def _replay_sleep(seconds: float) -> None:
    caller = sys._getframe(1).f_globals.get("__name__", "")
    if caller.startswith(SLEEPY_MODULES):
        return  # a poll or retry backoff in replay: the recorded answer is already here
    _real_sleep(seconds)


@contextmanager
def skip_sleeps() -> Iterator[None]:
    """While replaying, sleeps called from SDKs and providers return at once (others still sleep)."""
    global _sleep_depth
    with _sleep_lock:
        _sleep_depth += 1
        if _sleep_depth == 1:
            time.sleep = _replay_sleep
    try:
        yield
    finally:
        with _sleep_lock:
            _sleep_depth -= 1
            if _sleep_depth == 0:
                time.sleep = _real_sleep


@contextmanager
def use(cassette: Cassette, replay_env: tuple[str, ...] = ()) -> Iterator[Cassette]:
    """Route every HTTP library vcrpy knows through ``cassette`` (and skip sleeps when replaying).

    ``replay_env``: credentials the provider's SDK insists on before it sends anything; while
    replaying, each unset one gets a placeholder (a replay sends nothing, so CI needs no key).
    """
    require_vcrpy()
    from vcr.patch import CassettePatcherBuilder

    with ExitStack() as stack:
        for patcher in CassettePatcherBuilder(cassette).build():
            stack.enter_context(patcher)
        if cassette.write_protected:
            stack.enter_context(skip_sleeps())
            stack.enter_context(_placeholder_env(replay_env))
            stack.enter_context(_placeholder_env((REPLAY_FLAG,), "1"))
        yield cassette


@contextmanager
def _placeholder_env(names: tuple[str, ...], value: str = REPLAY_PLACEHOLDER) -> Iterator[None]:
    unset = [n for n in names if not os.environ.get(n)]
    for name in unset:
        os.environ[name] = value
    try:
        yield
    finally:
        for name in unset:
            if os.environ.get(name) == value:
                del os.environ[name]
