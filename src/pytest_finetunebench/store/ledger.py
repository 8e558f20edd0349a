"""The job ledger: a durable record of every paid tuning job, so that no crash ever pays twice.

One JSON record per tuning key (``<store>/ledger/<provider>/<key>.json``), written atomically by
:class:`~pytest_finetunebench.store.jobstore.JobStore`. The record walks through these states::

    new ──> uploaded ──> creating ──> running ──> succeeded
                  ^          │            └─────> failed
                  └──────────┘  (the API refused the create: nothing launched, retry allowed)

``creating`` is the one state where the ledger cannot know the truth: the create request was
sent, its answer never recorded (a crash, a kill -9, a dropped connection, a 5xx). Whoever finds
a ``creating`` record asks the API for a job tagged with the key; if none is listed, the record
stays ``creating`` and nothing is created again automatically, however often a run looks (a job
list can lag a create, and a second create is a second paid job). Deleting the record (the error
names its file) is the user's statement that no job was launched: the next run creates one.

Callers hold :meth:`Ledger.claim` for the key around every read-decide-write sequence, so the
processes of one run (pytest-xdist workers) and later runs agree on one job per key. The lock is
an OS file lock: a killed process releases it.

The ledger knows nothing about any one API; the OpenAI provider stores ``file_id`` and
``job_id``, the Gemini provider a ``gs://`` URI and a job name. URLs are stored without
``user:password@`` (see :func:`strip_userinfo`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .jobstore import JobStore

NEW = "new"
UPLOADED = "uploaded"
CREATING = "creating"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"

STATES = (NEW, UPLOADED, CREATING, RUNNING, SUCCEEDED, FAILED)

_HISTORY_LIMIT = 50
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@]*@")


def strip_userinfo(value: str) -> str:
    """``https://user:secret@host/v1`` -> ``https://host/v1`` (anything else is returned as is)."""
    return _USERINFO.sub(r"\1", value)


class Ledger:
    """Records of one provider's tuning jobs, keyed by the request's hash."""

    def __init__(self, store: JobStore, provider: str) -> None:
        self.store = store
        self.provider = provider

    def path(self, key: str):
        """Where the record of ``key`` lives (whether or not it exists yet)."""
        return self.store.root / "ledger" / self.provider / f"{key}.json"

    @contextmanager
    def claim(self, key: str) -> Iterator[None]:
        """Exclusive, cross-process ownership of ``key`` (blocks while another process holds it)."""
        with self.store.lock("ledger", self.provider, key):
            yield

    def get(self, key: str) -> dict[str, Any] | None:
        """The record of ``key``, or ``None`` if none was ever written."""
        return self.store.read_json("ledger", self.provider, key)

    def update(self, key: str, state: str | None = None, note: str | None = None, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` (and a new ``state``) into the record and write it durably.

        Every state change (and every ``note``) is appended to the record's ``history``.
        Hold :meth:`claim` while calling this.
        """
        if state is not None and state not in STATES:
            raise ValueError(f"unknown ledger state {state!r}")
        now = time.time()
        record = self.get(key) or {
            "key": key,
            "provider": self.provider,
            "state": NEW,
            "created_at": now,
            "history": [],
        }
        record.update({k: strip_userinfo(v) if isinstance(v, str) else v for k, v in fields.items()})
        if state is not None and state != record.get("state"):
            record["state"] = state
            record["history"].append({"t": round(now, 3), "state": state, **({"note": note} if note else {})})
        elif note:
            record["history"].append({"t": round(now, 3), "state": record["state"], "note": note})
        record["history"] = record["history"][-_HISTORY_LIMIT:]
        record["updated_at"] = now
        self.store.write_json(record, "ledger", self.provider, key)
        return record

    def forget(self, key: str) -> None:
        """Delete the record (a later run starts over; jobs already launched stay findable by the API)."""
        self.path(key).unlink(missing_ok=True)
