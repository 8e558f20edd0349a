"""The job ledger's record: where it lives, what each update writes, and what it refuses."""

from __future__ import annotations

import json

import pytest

from pytest_finetunebench.store import ledger as L
from pytest_finetunebench.store.jobstore import JobStore


@pytest.fixture
def ledger(tmp_path, monkeypatch) -> L.Ledger:
    clock = iter([1700000000.1234567, 1700000001.9876543, 1700000002.5])
    monkeypatch.setattr(L.time, "time", lambda: next(clock))
    return L.Ledger(JobStore(tmp_path), "openai")


def test_a_record_lives_in_one_json_file_per_key(ledger, tmp_path):
    assert ledger.path("k1") == tmp_path / "ledger" / "openai" / "k1.json"
    ledger.update("k1", L.UPLOADED, note="uploaded", file_id="file-1", base_url="https://user:pw@api.example/v1")
    assert json.loads(ledger.path("k1").read_text(encoding="utf-8")) == ledger.get("k1")


def test_every_state_change_and_note_is_kept_with_its_time(ledger):
    ledger.update("k1", L.UPLOADED, note="uploaded", file_id="file-1", base_url="https://user:pw@api.example/v1")
    ledger.update("k1", note="create sent")
    record = ledger.update("k1", L.RUNNING, job_id="job-1")
    assert record == {
        "key": "k1",
        "provider": "openai",
        "state": "running",
        "created_at": 1700000000.1234567,
        "updated_at": 1700000002.5,
        "file_id": "file-1",
        "base_url": "https://api.example/v1",
        "job_id": "job-1",
        "history": [
            {"t": 1700000000.123, "state": "uploaded", "note": "uploaded"},
            {"t": 1700000001.988, "state": "uploaded", "note": "create sent"},
            {"t": 1700000002.5, "state": "running"},
        ],
    }


def test_an_unknown_state_is_refused(ledger):
    with pytest.raises(ValueError) as err:
        ledger.update("k1", "paused")
    assert str(err.value) == "unknown ledger state 'paused'"
    assert ledger.get("k1") is None


def test_history_keeps_the_last_fifty_entries(tmp_path):
    ledger = L.Ledger(JobStore(tmp_path), "openai")
    for n in range(60):
        ledger.update("k1", note=f"poll {n}")
    assert [h["note"] for h in ledger.get("k1")["history"]] == [f"poll {n}" for n in range(10, 60)]
