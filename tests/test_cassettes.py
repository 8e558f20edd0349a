"""Cassettes: record a run against the OpenAI emulator once, replay it offline, keyless, identically.

Every end-to-end run is a pytest subprocess (pytester): the recording talks to an emulator in this
process through its TCP port; replays run with the emulator stopped, no API key and every
IP connection refused by a conftest.py, so a replay that touched the network would fail.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote, quote_plus, urlsplit

import pytest

pytest.importorskip("openai")
vcr = pytest.importorskip("vcr")

from pytest_finetunebench import record as C
from pytest_finetunebench.providers.base import TrainingPair, TuneRequest
from pytest_finetunebench.reporting.results import without_header
from pytest_finetunebench.store.jobstore import JobStore
from pytest_finetunebench.testing import OpenAIEmulator

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "cassettes" / "cases" / "emulator_towns.yaml"
MODEL = "gpt-4o-mini-2024-07-18"
SECRET = "sk-ftb-SECRET-123"

BLOCK_NETWORK = """
import socket
_connect = socket.socket.connect
def _blocked(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        raise OSError(f"network blocked by the test: connect to {address}")
    return _connect(self, address)
socket.socket.connect = _blocked
socket.socket.connect_ex = lambda self, address: _blocked(self, address)
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\n")
    shutil.copy(CASES, pytester.path / "towns.yaml")
    return pytester


def run(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
    base_url: str,
    key: str | None = None,
    report: str = "report.json",
    offline: bool = False,
    fresh_store: bool = True,
    conftest: str = "",
    model: str = MODEL,
) -> pytest.RunResult:
    """One pytest subprocess over towns.yaml for ``model``; ``offline`` blocks every IP connection
    (and, with ``fresh_store``, starts from an empty job store)."""
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    if key:
        monkeypatch.setenv("OPENAI_API_KEY", key)
    else:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    path = pytester.path / "conftest.py"
    if offline and fresh_store:
        shutil.rmtree(pytester.path / ".ftb", ignore_errors=True)
    text = (BLOCK_NETWORK if offline else "") + conftest
    if text:
        path.write_text(text)
    elif path.exists():
        path.unlink()
    return pytester.runpytest_subprocess(
        "towns.yaml",
        f"--ftb-model={model}",
        "--ftb-poll-interval=0.02",
        f"--ftb-report={report}",
        "--ftb-no-save",
        "-p",
        "no:randomly",
        *args,
    )


def cassette_files(root: Path, provider: str = "openai") -> list[Path]:
    return sorted(p for p in (root / "cassettes" / provider).rglob("*") if p.is_file())


def unzipped(raw: bytes) -> bytes:
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def load(path: Path) -> dict:
    return json.loads(unzipped(path.read_bytes()))


def dump(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=1))


def report(pytester: pytest.Pytester, name: str = "report.json") -> dict:
    """The JSON report with every list in a fixed order (under pytest-xdist, items and the tables
    built from them come in the order the workers finish)."""

    def fixed(value):
        if isinstance(value, dict):
            return {k: fixed(v) for k, v in value.items()}
        if isinstance(value, list):
            return sorted((fixed(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
        return value

    return fixed(json.loads((pytester.path / name).read_text()))


@pytest.fixture
def recorded(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """A run recorded against an emulator that is stopped by the time the test body runs."""
    with OpenAIEmulator(job_polls=2, file_polls=1) as emu:
        result = run(
            project, monkeypatch, "--ftb-record-mode=once", base_url=emu.base_url, key=SECRET, report="recorded.json"
        )
        jobs = emu.jobs_created
        base_url = emu.base_url
    result.assert_outcomes(passed=10, failed=3)  # the emulator memorizes: rephrased questions fail
    assert jobs == 1
    (files,) = [cassette_files(project.path)]
    assert len(files) == 1 and files[0].name.endswith(".json")
    return SimpleNamespace(base_url=base_url, path=files[0], output=result.outlines + result.errlines)


# -- end to end ---------------------------------------------------------------------------------


def test_record_once_then_replay_offline_without_key_gives_the_identical_report(recorded, project, monkeypatch):
    data = load(recorded.path)
    assert data["format"] == C.FORMAT and data["model"] == MODEL and data["training_pairs"] == 10
    paths = [
        f"{i['request']['method']} {i['request']['uri'].split('/v1/', 1)[1].split('?')[0]}"
        for i in data["interactions"]
    ]
    assert paths[0] == "GET fine_tuning/jobs" and "POST files" in paths and "POST fine_tuning/jobs" in paths
    assert sum(p.startswith("GET fine_tuning/jobs/ftjob-") and p.count("/") == 2 for p in paths) >= 2  # the polls
    assert paths.count("POST chat/completions") == 13

    result = run(project, monkeypatch, base_url=recorded.base_url, offline=True)  # default mode: replay
    result.assert_outcomes(passed=10, failed=3)
    assert (project.path / "report.json").read_bytes() == (project.path / "recorded.json").read_bytes()  # byte for byte
    result.stdout.fnmatch_lines(
        [f"*cassettes (none): replayed {len(data['interactions'])} responses from 1 cassette(s)*"]
    )  # every one
    assert "cassette written" not in result.stdout.str()


# Records every sleep that really happens in the pytest subprocess (those a replay skips never
# reach it) into sleeps.json, and sleeps at most 50 ms, so a regression fails fast instead of hanging.
SLEEP_SPY = """
import json, time
from pytest_finetunebench.record import vcr
_real = vcr._real_sleep
SLEPT = []
def _spy(seconds):
    SLEPT.append(seconds)
    _real(min(seconds, 0.05))
vcr._real_sleep = time.sleep = _spy
def pytest_unconfigure(config):
    with open("sleeps.json", "w") as fh:
        json.dump(SLEPT, fh)
"""


def test_replay_skips_poll_sleeps(recorded, project, monkeypatch):
    """Recorded with 0.02 s polls; replayed with 30 s polls, not one poll sleep happens."""
    result = run(
        project, monkeypatch, "--ftb-poll-interval=30", base_url=recorded.base_url, offline=True, conftest=SLEEP_SPY
    )
    result.assert_outcomes(passed=10, failed=3)
    slept = json.loads((project.path / "sleeps.json").read_text())
    assert not [s for s in slept if s >= 1], slept  # the 30 s polls (and any SDK backoff) were skipped


def test_the_sleep_spy_sees_live_poll_sleeps(project, monkeypatch):
    """The spy above is not blind: live, the same run sleeps its polls."""
    with OpenAIEmulator(job_polls=2) as emu:
        result = run(
            project,
            monkeypatch,
            "--ftb-record-mode=off",
            "--ftb-poll-interval=1",
            base_url=emu.base_url,
            key="sk-test",
            conftest=SLEEP_SPY,
        )
    result.assert_outcomes(passed=10, failed=3)
    assert [s for s in json.loads((project.path / "sleeps.json").read_text()) if s >= 1]


def test_replay_leaves_the_live_ledger_alone(recorded, project, monkeypatch):
    """Bug F3: a replay runs the provider against a private job store, so the cassette's job is
    neither reused from nor written into the user's live ledger (a later live run would reuse the
    recording's ``ft:`` model under the live key)."""
    ledger = project.path / ".ftb" / "ledger"
    before = {p: p.read_bytes() for p in ledger.rglob("*") if p.is_file()}
    assert before  # the recording's own (live) ledger: a succeeded job
    total = len(load(recorded.path)["interactions"])

    kept = run(project, monkeypatch, base_url=recorded.base_url, offline=True, fresh_store=False)
    kept.assert_outcomes(passed=10, failed=3)
    kept.stdout.fnmatch_lines(
        [f"*cassettes (none): replayed {total} responses from 1 cassette(s)*"]
    )  # the lifecycle too
    assert {p: p.read_bytes() for p in ledger.rglob("*") if p.is_file()} == before

    shutil.rmtree(ledger)
    empty = run(project, monkeypatch, base_url=recorded.base_url, offline=True, fresh_store=False)
    empty.assert_outcomes(passed=10, failed=3)
    assert not [p for p in ledger.rglob("*") if p.is_file()]  # no new, creating, running or succeeded record
    assert report(project) == report(project, "recorded.json")


def test_default_mode_without_cassette_is_a_one_line_error(project, monkeypatch):
    result = run(project, monkeypatch, base_url="http://127.0.0.1:9/v1", offline=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.startswith("ERROR:")]
    assert len(errors) == 1
    assert re.fullmatch(
        r"ERROR: no cassette for gpt-4o-mini-2024-07-18 \(openai, 10 training pairs, key \w+\) at "
        r"\S*cassettes/openai/gpt-4o-mini-2024-07-18/\w+\.json;"
        r" three ways on: the provider's API key with --ftb-record-mode=once \(tunes, answers and records this "
        r"cassette;"
        r" --ftb-record-mode=off runs live without one\), a cassette recorded with the same cases and settings"
        r" \(--ftb-cassettes=DIR\), or --ftb-responses=DIR to re-grade published answers",
        errors[0],
    )


def test_off_runs_live_and_writes_no_cassette(project, monkeypatch):
    with OpenAIEmulator() as emu:
        result = run(project, monkeypatch, "--ftb-record-mode=off", base_url=emu.base_url, key="sk-test")
    result.assert_outcomes(passed=10, failed=3)
    assert not (project.path / "cassettes").exists()


def test_published_answers_need_no_cassette(project, monkeypatch):
    """Providers without HTTP (published answers, the local model) ignore the record mode: in the
    default (replay-only) mode, with no cassette anywhere, the published answers are graded."""
    (project.path / "responses").mkdir()
    with open(project.path / "responses" / "towns_w_responses.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["prompt", f"{MODEL}_response"])
        writer.writerow(
            ["Answer briefly.\nHow much did the 2024 Velmora bridge repairs cost?", "It cost 150 million dollars."]
        )
        writer.writerow(["Answer briefly.\nWho became mayor of Ostrin in 2025?", "Nobody knows."])
    result = run(
        project, monkeypatch, "--ftb-responses=responses", "-rs", base_url="http://127.0.0.1:9/v1", offline=True
    )
    result.assert_outcomes(passed=1, failed=1, skipped=11)  # the other prompts have no published answer
    assert "finetunebench: cassette" not in result.stdout.str() and "no cassette" not in result.stderr.str()
    assert not (project.path / "cassettes").exists()


def test_record_mode_comes_from_the_ini_file_and_the_flag_wins(project, monkeypatch):
    project.makeini("[pytest]\nftb_record_mode = off\n")
    with OpenAIEmulator() as emu:
        live = run(
            project, monkeypatch, base_url=emu.base_url, key="sk-test"
        )  # off from the ini: live, no cassette needed
        live.assert_outcomes(passed=10, failed=3)
        assert emu.jobs_created == 1 and not (project.path / "cassettes").exists()
        flagged = run(project, monkeypatch, "--ftb-record-mode=none", base_url=emu.base_url, key="sk-test")
    assert flagged.ret == pytest.ExitCode.USAGE_ERROR and "no cassette for" in flagged.stderr.str()
    bad = run(project, monkeypatch, "--ftb-record-mode=sometimes", base_url="http://127.0.0.1:9/v1", offline=True)
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert "--ftb-record-mode=sometimes: expected one of none, once, new_episodes, all, off" in bad.stderr.str()


def test_unmatched_request_fails_naming_the_request_and_the_cassette(recorded, project, monkeypatch):
    data = load(recorded.path)
    chats = [i for i in data["interactions"] if i["request"]["uri"].endswith("/chat/completions")]
    dropped = next(i for i in chats if "Ostrin elected" in i["request"]["body"])
    data["interactions"].remove(dropped)
    dump(recorded.path, data)
    result = run(project, monkeypatch, base_url=recorded.base_url, offline=True)
    result.assert_outcomes(passed=10, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*emulator_towns ostrin-mayor rephrased*",
            "run error: CassetteMiss: cassette miss: no recorded response for POST /v1/chat/completions in "
            "cassettes/openai/gpt-4o-mini-2024-07-18/*.json (it was recorded, but with another body or query)*",
        ]
    )
    summary = (
        "finetunebench: cassettes (none): replayed 21 responses from 1 cassette(s), 1 request(s) not in the cassette"
    )
    assert summary in result.stdout.lines
    (item,) = [i for i in report(project)["items"] if i["case_id"] == "ostrin-mayor" and i["split"] == "rephrased"]
    assert item["error"].startswith("CassetteMiss: cassette miss: no recorded response for POST /v1/chat/completions")


def test_multipart_boundary_and_json_key_order_do_not_matter(recorded, project, monkeypatch):
    """Rewrite the recorded upload with another boundary and every JSON body with reversed keys."""
    data = load(recorded.path)
    for item in data["interactions"]:
        req = item["request"]
        body = req["body"]
        if isinstance(body, str) and body.startswith("--"):
            old = body.split("\r\n", 1)[0][2:]
            req["body"] = body.replace(old, "0123456789abcdef0123456789abcdef")
            req["headers"]["content-type"] = ["multipart/form-data; boundary=0123456789abcdef0123456789abcdef"]
        elif isinstance(body, str) and body.startswith("{"):
            req["body"] = json.dumps(dict(reversed(list(json.loads(body).items()))), indent=3)
    dump(recorded.path, data)
    result = run(project, monkeypatch, base_url=recorded.base_url, offline=True)
    result.assert_outcomes(passed=10, failed=3)
    assert report(project) == report(project, "recorded.json")


def test_secrets_are_in_no_file_the_run_wrote(recorded, project):
    written = [p for p in project.path.rglob("*") if p.is_file()]
    assert any(".ftb" in p.parts for p in written) and recorded.path in written
    for path in written:
        raw = path.read_bytes()
        assert SECRET.encode() not in raw and SECRET.encode() not in (
            gzip.decompress(raw) if path.suffix == ".gz" else b""
        ), path
    assert not any(SECRET in line for line in recorded.output)
    text = recorded.path.read_text().lower()
    assert "authorization" not in text and "set-cookie" not in text


def test_together_records_without_its_key_and_replays_offline(project, monkeypatch):
    """Record a Together run with a key, then replay it with no key, no emulator and no network: same report, the key
    nowhere."""
    pytest.importorskip("together")
    from pytest_finetunebench.testing.together.emulator import TogetherEmulator

    args = (
        "towns.yaml",
        "--ftb-model=together:Qwen/Qwen3-8B",
        "--ftb-poll-interval=0.02",
        "--ftb-no-save",
        "-p",
        "no:randomly",
    )
    with TogetherEmulator(job_polls=2) as emu:
        monkeypatch.setenv("TOGETHER_BASE_URL", emu.base_url)
        monkeypatch.setenv("TOGETHER_API_KEY", SECRET)
        recorded = project.runpytest_subprocess(*args, "--ftb-record-mode=once", "--ftb-report=recorded.json")
        assert emu.jobs_created == 1
    recorded.assert_outcomes(passed=10, failed=3)
    for path in (p for p in project.path.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        assert SECRET.encode() not in raw and SECRET.encode() not in (
            gzip.decompress(raw) if path.suffix == ".gz" else b""
        ), path
    monkeypatch.delenv("TOGETHER_API_KEY")
    shutil.rmtree(project.path / ".ftb")
    (project.path / "conftest.py").write_text(BLOCK_NETWORK)
    replayed = project.runpytest_subprocess(*args, "--ftb-report=report.json")
    replayed.assert_outcomes(passed=10, failed=3)
    assert report(project) == report(project, "recorded.json")


def test_gemini_recording_holds_no_credential_and_replays_without_the_token_endpoint(project, monkeypatch):
    """Secret leak A: record a Gemini run against the Vertex emulator (google-auth refreshes an
    ``external_account_authorized_user`` credential at the emulator's ``/token``), then look for
    the refresh token, the client secret and every bearer token the emulator issued in every file
    the run wrote. The replay (emulator stopped, network blocked) never needs that endpoint."""
    pytest.importorskip("google.genai")
    pytest.importorskip("google.cloud.storage")
    from pytest_finetunebench.testing.vertex.emulator import VertexEmulator

    refresh, client_secret = "1//ftb-REFRESH-c4f7e2a9", "ftb-CLIENT-SECRET-9b31d0"
    creds = project.path / "adc.json"
    args = (
        "towns.yaml",
        "--ftb-model=gemini-2.5-flash",
        "--ftb-gcs-bucket=ftb-test/runs",
        "--ftb-poll-interval=0.02",
        "--ftb-no-save",
        "-p",
        "no:randomly",
    )
    with VertexEmulator(job_polls=2) as emu:
        env = emu.env()
        info = json.loads(Path(env["GOOGLE_APPLICATION_CREDENTIALS"]).read_text())
        creds.write_text(json.dumps({**info, "refresh_token": refresh, "client_secret": client_secret}))
        for name, value in {**env, "GOOGLE_APPLICATION_CREDENTIALS": str(creds)}.items():
            monkeypatch.setenv(name, value)
        recorded = project.runpytest_subprocess(*args, "--ftb-record-mode=once", "--ftb-report=recorded.json")
        tokens = set(emu._tokens)
        assert emu.count("POST token") >= 1 and emu.jobs_created == 1
    recorded.assert_outcomes(passed=10, failed=3)
    assert tokens
    (path,) = cassette_files(project.path, "gemini")
    secrets = {
        form for s in (refresh, client_secret, *tokens) for form in (s, quote(s, safe=""), quote_plus(s))
    }  # as sent in a form body too
    for written in (p for p in project.path.rglob("*") if p.is_file() and p != creds):
        raw = written.read_bytes()
        assert not [s for s in secrets if s.encode() in raw or s.encode() in unzipped(raw)], written
    assert not [s for s in secrets for line in recorded.outlines + recorded.errlines if s in line]
    uris = [i["request"]["uri"] for i in load(path)["interactions"]]
    assert uris and not [u for u in uris if C.is_auth(u)]

    shutil.rmtree(project.path / ".ftb")
    (project.path / "conftest.py").write_text(BLOCK_NETWORK)
    replayed = project.runpytest_subprocess(*args, "--ftb-report=report.json")
    replayed.assert_outcomes(passed=10, failed=3)
    assert "request(s) not in the cassette" not in replayed.stdout.str()
    assert report(project) == report(project, "recorded.json")

    creds.unlink()  # and with no credentials at all (CI): the provider replays with static ones
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    keyless = project.runpytest_subprocess(*args, "--ftb-report=report.json")
    keyless.assert_outcomes(passed=10, failed=3)
    assert report(project) == report(project, "recorded.json")


def test_replay_under_xdist_n4(recorded, project, monkeypatch):
    pytest.importorskip("xdist")
    result = run(project, monkeypatch, "-n", "4", base_url=recorded.base_url, offline=True)
    result.assert_outcomes(passed=10, failed=3)
    assert report(project) == report(project, "recorded.json")


def test_record_under_xdist_has_one_writer_and_replays(project, monkeypatch):
    pytest.importorskip("xdist")
    with OpenAIEmulator(job_polls=2) as emu:
        result = run(
            project,
            monkeypatch,
            "-n",
            "4",
            "--ftb-record-mode=once",
            "--ftb-in-context",
            base_url=emu.base_url,
            key=SECRET,
            report="recorded.json",
        )
        assert emu.jobs_created == 1
        base_url = emu.base_url
    result.assert_outcomes(passed=10, failed=16)  # the emulator knows only the trained prompts
    (path,) = cassette_files(project.path)
    chats = [i for i in load(path)["interactions"] if i["request"]["uri"].endswith("/chat/completions")]
    assert len(chats) == 26  # tuned + in-context, possibly from different workers, merged into one file
    result = run(project, monkeypatch, "--ftb-in-context", base_url=base_url, offline=True)
    result.assert_outcomes(passed=10, failed=16)
    assert report(project) == report(project, "recorded.json")


def test_new_episodes_appends_and_all_rerecords(project, monkeypatch):
    with OpenAIEmulator(job_polls=2) as emu:
        run(
            project,
            monkeypatch,
            "--ftb-record-mode=once",
            "--ftb-split=memorization",
            base_url=emu.base_url,
            key="sk-test",
        ).assert_outcomes(passed=10)
        (path,) = cassette_files(project.path)
        first = load(path)
        assert sum(i["request"]["uri"].endswith("/chat/completions") for i in first["interactions"]) == 10

        # every split: the rephrased prompts are not in the cassette yet
        missing = run(project, monkeypatch, base_url=emu.base_url, offline=True)
        missing.assert_outcomes(passed=10, failed=3)
        assert missing.stdout.str().count("cassette miss: no recorded response for POST /v1/chat/completions") >= 3

        assert not (
            project.path / ".ftb" / "ledger"
        ).exists()  # the replay above left the live store alone: the lifecycle replays
        appended = run(
            project,
            monkeypatch,
            "--ftb-record-mode=new_episodes",
            base_url=emu.base_url,
            key="sk-test",
            report="appended.json",
        )
        appended.assert_outcomes(passed=10, failed=3)
        second = load(path)
        assert second["interactions"][: len(first["interactions"])] == first["interactions"]
        assert len(second["interactions"]) == len(first["interactions"]) + 3
        assert emu.jobs_created == 1  # the lifecycle came from the cassette

        shutil.rmtree(project.path / ".ftb")
        again = run(
            project, monkeypatch, "--ftb-record-mode=all", base_url=emu.base_url, key="sk-test", report="all.json"
        )
        again.assert_outcomes(passed=10, failed=3)
        assert emu.jobs_created == 1  # everything went to the API again, which found the job by its ftb_key
        assert emu.count("POST /v1/chat/completions") == 10 + 3 + 13
        third = load(path)

        def chat_ids(d):
            return {
                json.loads(i["response"]["body"])["id"]
                for i in d["interactions"]
                if i["request"]["uri"].endswith("/chat/completions")
            }

        assert len(chat_ids(third)) == 13 and not chat_ids(third) & chat_ids(second)  # replaced, not appended

        base_url = emu.base_url
    shutil.rmtree(project.path / ".ftb")
    replay = run(project, monkeypatch, base_url=base_url, offline=True)
    replay.assert_outcomes(passed=10, failed=3)
    assert report(project) == report(project, "all.json") == report(project, "appended.json")


def test_shipped_cassettes_replay_offline(pytester, monkeypatch):
    """The recordings in cassettes/ (made against the emulator) replay with no emulator, no key, no network."""
    index = json.loads((ROOT / "cassettes" / "shipped.json").read_text())
    pytester.makeini("[pytest]\n")
    shutil.copy(CASES, pytester.path / "towns.yaml")
    for cassette in (ROOT / "cassettes" / "openai").rglob("*.json*"):
        assert "not a real model" in load(cassette)["recorded_against"]
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", index["base_url"])
    (pytester.path / "conftest.py").write_text(BLOCK_NETWORK)
    result = pytester.runpytest_subprocess(
        "towns.yaml",
        f"--ftb-cassettes={ROOT / 'cassettes'}",
        "--ftb-report=report.json",
        "--ftb-no-save",
        *index["args"],
    )
    result.assert_outcomes(**index["outcomes"])
    assert without_header(json.loads((pytester.path / "report.json").read_text())) == index["report"]


def test_shipped_together_cassette_replays_offline(pytester, monkeypatch):
    """The Together recording (made against its emulator) replays with no emulator, no key, no network."""
    pytest.importorskip("together")
    index = json.loads((ROOT / "cassettes" / "shipped.json").read_text())["together"]
    for cassette in index["cassettes"]:
        data = load(ROOT / cassette)
        assert "not a real model" in data["recorded_against"] and "emulator-key-not-a-secret" not in json.dumps(data)
    pytester.makeini("[pytest]\n")
    shutil.copy(CASES, pytester.path / "towns.yaml")
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    monkeypatch.setenv("TOGETHER_BASE_URL", index["base_url"])
    (pytester.path / "conftest.py").write_text(BLOCK_NETWORK)
    result = pytester.runpytest_subprocess(
        "towns.yaml",
        f"--ftb-cassettes={ROOT / 'cassettes'}",
        "--ftb-report=report.json",
        "--ftb-no-save",
        *index["args"],
    )
    result.assert_outcomes(**index["outcomes"])
    assert without_header(json.loads((pytester.path / "report.json").read_text())) == index["report"]


def test_shipped_suite_cassette_replays_from_an_empty_folder(pytester, monkeypatch):
    """The shipped suite's recording (what .ci/run replays from an installed wheel) replays offline, anywhere."""
    index = json.loads((ROOT / "cassettes" / "shipped.json").read_text())["suite"]
    for cassette in index["cassettes"]:
        assert "not a real model" in load(ROOT / cassette)["recorded_against"]
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", json.loads((ROOT / "cassettes" / "shipped.json").read_text())["base_url"])
    (pytester.path / "conftest.py").write_text(BLOCK_NETWORK)
    result = pytester.runpytest_subprocess(
        f"--ftb-cassettes={ROOT / 'cassettes'}", "--ftb-no-save", "--ftb-fail-under=memorization:0.9", *index["args"]
    )
    result.assert_outcomes(**index["outcomes"])
    assert result.ret == 0  # the gate decides: memorization 1.000 >= 0.9
    # the model column is as wide as the untuned stage the retention split adds (gpt-4o-mini-2024-07-18@base)
    assert (
        "gpt-4o-mini-2024-07-18       invented_people    memorization  24   24       1.000     [0.862, 1.000]  1.00"
        in result.outlines
    )


# -- units ----------------------------------------------------------------------------------------


def test_fingerprint_json_key_order_free_and_body_sensitive():
    a = C.fingerprint(
        "POST", "https://api.openai.com/v1/chat/completions", b'{"model": "m", "messages": [1, 2]}', "application/json"
    )
    b = C.fingerprint(
        "POST", "https://api.openai.com/v1/chat/completions", b'{"messages":[1,2],"model":"m"}', "application/json"
    )
    c = C.fingerprint(
        "POST", "https://api.openai.com/v1/chat/completions", b'{"messages":[2,1],"model":"m"}', "application/json"
    )
    assert a == b != c


def test_fingerprint_multipart_ignores_the_boundary_only():
    def body(boundary: str, content: str) -> bytes:
        return (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="x.jsonl"\r\n\r\n{content}\r\n--{boundary}--\r\n'
        ).encode()

    fp = lambda b: C.fingerprint("POST", "https://api.openai.com/v1/files", b, "multipart/form-data")  # noqa: E731
    assert fp(body("aaaa1111", "{}\n")) == fp(body("bbbb2222", "{}\n")) != fp(body("aaaa1111", "{1}\n"))


def test_fingerprint_ignores_key_param():
    assert C.fingerprint("GET", "https://x.googleapis.com/v1/models?key=AIza1&alt=json", None) == C.fingerprint(
        "GET", "https://x.googleapis.com/v1/models?alt=json&key=AIza2", None
    )


def _request(method, uri, body, headers):
    from vcr.request import Request

    return Request(method, uri, body, headers)


OK = {
    "status": {"code": 200, "message": "OK"},
    "headers": {"content-type": ["application/json"]},
    "body": {"string": b"{}"},
}


def _reply(payload) -> dict:
    return {
        "status": {"code": 200, "message": "OK"},
        "headers": {"content-type": ["application/json"]},
        "body": {"string": payload if isinstance(payload, bytes) else json.dumps(payload).encode()},
    }


# Credential traffic of every shape google-auth (and others) send: none of it may be written.
AUTH_TRAFFIC = [
    (
        "POST",
        "https://oauth2.googleapis.com/token",
        b"grant_type=refresh_token&refresh_token=1//SECRET-A1&client_secret=SECRET-A2",
        {
            "access_token": "ya29.SECRET-A3",
            "id_token": "eyJ.SECRET-A4",
            "refresh_token": "1//SECRET-A5",
            "expires_in": 3599,
        },
    ),
    (
        "POST",
        "https://sts.googleapis.com/v1/token",
        b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=SECRET-B1",
        {"access_token": "ya29.SECRET-B2", "issued_token_type": "x", "token_type": "Bearer"},
    ),
    (
        "POST",
        "https://sts.googleapis.com/v1/oauthtoken",
        json.dumps(
            {"grant_type": "refresh_token", "refresh_token": "SECRET-C1", "client_secret": "SECRET-C2"}
        ).encode(),
        {"access_token": "ya29.SECRET-C3", "refresh_token": "SECRET-C4"},
    ),
    (
        "POST",
        "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken",
        b'{"scope": ["x"]}',
        {"accessToken": "ya29.SECRET-D1", "expireTime": "2030-01-01T00:00:00Z"},
    ),
    (
        "GET",
        "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token",
        None,
        {"access_token": "ya29.SECRET-E1", "expires_in": 3599, "token_type": "Bearer"},
    ),
    (
        "GET",
        "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/identity?audience=x",
        None,
        b"eyJhbGciOi.SECRET-F1.sig",
    ),
    (
        "POST",
        "http://127.0.0.1:40001/token",
        b"grant_type=refresh_token&refresh_token=SECRET-G1&client_id=c&client_secret=SECRET-G2",
        {"access_token": "ftb-emulator-token-SECRET-G3", "expires_in": 3600},
    ),  # the Vertex emulator's own token endpoint
    (
        "POST",
        "https://idp.example.com/oauth/v2/exchange",
        b"assertion=SECRET-H1&grant_type=jwt-bearer",
        {"access_token": "SECRET-H2"},
    ),  # by body alone
    (
        "POST",
        "https://idp.example.com/auth",
        json.dumps({"grant_type": "client_credentials", "client_secret": "SECRET-I1"}).encode(),
        {"token": "SECRET-I2"},
    ),
]


@pytest.mark.parametrize(
    "method, uri, body, reply",
    AUTH_TRAFFIC,
    ids=[urlsplit(t[1]).netloc + urlsplit(t[1]).path[-20:] for t in AUTH_TRAFFIC],
)
def test_credential_traffic_is_never_written(tmp_path, method, uri, body, reply):
    cassette = C.Cassette(tmp_path / "c.json", "once", {"provider": "gemini"})
    cassette.append(_request(method, uri, body, {"content-type": "application/x-www-form-urlencoded"}), _reply(reply))
    # an API call whose response echoes what the exchange sent and returned
    echo = json.dumps(
        {"echo": [body.decode() if body else "", json.dumps(reply) if isinstance(reply, dict) else reply.decode()]}
    ).encode()
    cassette.append(
        _request("POST", "https://us-central1-aiplatform.googleapis.com/v1/x:generateContent", b"{}", {}), _reply(echo)
    )
    path = cassette.save(JobStore(tmp_path / "store"), "s", set())
    text = path.read_text()
    assert "SECRET" not in text, re.findall(r".{20}SECRET.{5}", text)
    assert [i["request"]["uri"] for i in json.loads(text)["interactions"]] == [
        "https://us-central1-aiplatform.googleapis.com/v1/x:generateContent"
    ]


def test_replay_answers_credential_requests_with_a_placeholder_token(tmp_path):
    cassette = C.Cassette(tmp_path / "c.json", "none", {}, {"interactions": []})
    req = _request("POST", "http://127.0.0.1:40001/token", b"grant_type=refresh_token&refresh_token=r", {})
    assert cassette.can_play_response_for(req)
    assert json.loads(cassette.play_response(req)["body"]["string"])["access_token"] == C.REPLAY_TOKEN
    assert cassette.replayed == 0 and not cassette.misses
    recording = C.Cassette(tmp_path / "d.json", "once", {})
    assert not recording.can_play_response_for(
        _request("POST", "https://oauth2.googleapis.com/token", b"grant_type=x", {})
    )  # live while recording


def test_an_api_body_that_mentions_credentials_is_not_credential_traffic():
    chat = json.dumps(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "what does grant_type=refresh_token&client_secret= do?"}],
        }
    ).encode()
    assert not C.is_auth("https://api.openai.com/v1/chat/completions", chat)
    assert C.is_auth("https://api.openai.com/v1/x", b"grant_type=refresh_token&refresh_token=r")


def test_scrubbing_headers_key_param_userinfo_and_cookies(tmp_path):
    cassette = C.Cassette(tmp_path / "c.json", "once", {"provider": "gemini"})
    req = _request(
        "POST",
        "https://generativelanguage.googleapis.com/v1beta/models/x:generateContent?key=AIza-SECRET-KEY-1",
        b"{}",
        {
            "x-goog-api-key": "AIza-SECRET-KEY-2",
            "Authorization": "Bearer ya29.SECRET-3",
            "openai-organization": "org-SECRET-4",
            "openai-project": "proj_SECRET-5",
            "api-key": "azure-SECRET-6",
            "content-type": "application/json",
        },
    )
    ok = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"set-cookie": ["sid=SECRET-7"], "content-type": ["application/json"]},
        "body": {"string": b"{}"},
    }
    cassette.append(req, ok)
    proxied = _request("POST", "https://ftb-user:pa55-SECRET-8@proxy.example.com:8443/v1/chat/completions", b"{}", {})
    cassette.append(
        proxied,
        _reply({"note": "called https://ftb-user:pa55-SECRET-8@proxy.example.com:8443/v1", "access_token": "SECRET-9"}),
    )
    path = cassette.save(JobStore(tmp_path / "store"), "s", set())
    text = path.read_text()
    assert "SECRET" not in text and "ftb-user" not in text, re.findall(r".{20}(?:SECRET|ftb-user).{5}", text)
    data = json.loads(text)
    saved = data["interactions"]
    assert "key=" not in saved[0]["request"]["uri"] and saved[0]["request"]["uri"].endswith(":generateContent")
    assert saved[1]["request"]["uri"] == "https://proxy.example.com:8443/v1/chat/completions"
    assert data["origins"] == ["https://generativelanguage.googleapis.com", "https://proxy.example.com:8443"]
    assert "@" not in data["recorded_against"] and "proxy.example.com:8443" in data["recorded_against"]
    assert C.scrub_uri("http://u:p@h:1/a?key=k&x=1") == "http://h:1/a?x=1"


def test_secret_echoed_in_a_body_is_scrubbed(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    cassette = C.Cassette(tmp_path / "c.json", "once", {})
    req = _request("GET", "https://api.openai.com/v1/models", None, {"authorization": f"Bearer {SECRET}"})
    cassette.append(
        req,
        {
            "status": {"code": 401, "message": ""},
            "headers": {},
            "body": {"string": f'{{"error": "Incorrect API key provided: {SECRET}"}}'.encode()},
        },
    )
    path = cassette.save(JobStore(tmp_path / "store"), "s", C.env_secrets())
    assert SECRET not in path.read_text() and C.SCRUBBED in path.read_text()


def _chats(path: Path, n: int, mode: str = "all", pad: int = 800) -> C.Cassette:
    cassette = C.Cassette(path, mode, {})
    for i in range(n):
        req = _request(
            "POST", "https://api.openai.com/v1/chat/completions", json.dumps({"i": i, "pad": "x" * pad}).encode(), {}
        )
        cassette.append(req, {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": b"{}"}})
    return cassette


def test_large_cassettes_are_gzipped_under_the_same_name_and_read_back(tmp_path):
    path = _chats(tmp_path / "c.json", 400).save(JobStore(tmp_path / "store"), "s", set())
    assert (
        path == tmp_path / "c.json" and path.read_bytes()[:2] == b"\x1f\x8b" and not (tmp_path / "c.json.gz").exists()
    )
    assert len(C.read(tmp_path / "c.json")["interactions"]) == 400


class Crash(BaseException):
    pass


def test_a_shrinking_cassette_is_never_read_stale(tmp_path, monkeypatch):
    """Bug H: a cassette re-recorded below the gzip threshold, the process dying right after it
    wrote the new version (before removing anything): the next read gets the new version."""
    store = JobStore(tmp_path / "store")
    _chats(tmp_path / "c.json", 400).save(store, "s1", set())

    def crash(self, missing_ok=False):
        raise Crash(f"killed before removing {self}")

    small = _chats(tmp_path / "c.json", 1)
    monkeypatch.setattr(Path, "unlink", crash)
    try:
        small.save(store, "s2", set())
    except Crash:
        pass
    monkeypatch.undo()
    assert len(C.read(tmp_path / "c.json")["interactions"]) == 1


def test_a_legacy_gz_cassette_is_read_and_superseded(tmp_path):
    legacy = tmp_path / "c.json.gz"
    legacy.write_bytes(
        gzip.compress(json.dumps({"session": "old", "interactions": [{"request": {}, "response": {}}]}).encode())
    )
    assert C.exists(tmp_path / "c.json") and len(C.read(tmp_path / "c.json")["interactions"]) == 1
    path = _chats(tmp_path / "c.json", 2).save(JobStore(tmp_path / "store"), "s", set())
    assert path == tmp_path / "c.json" and not legacy.exists() and len(C.read(path)["interactions"]) == 2


def _saved(recorder: C.Recorder, request: TuneRequest, session: str) -> Path:
    """A cassette for ``request`` saved by the session ``session`` (one chat)."""
    cassette = _chats(recorder.path("openai", request), 1, mode="once", pad=1)
    return cassette.save(recorder.store, session, set())


def test_once_under_xdist_keeps_recording_a_cassette_this_session_saved(tmp_path):
    """Bug G: worker A saved the cassette at its session end; worker B (same testrunuid) reaches
    the model afterwards: B still records what it lacks instead of failing with a miss."""
    request = TuneRequest(MODEL, (TrainingPair("q", "a"),))
    a = C.Recorder(tmp_path / "cassettes", "once", JobStore(tmp_path / "store"), "run-1", worker=True)
    _saved(a, request, "run-1")
    b = C.Recorder(tmp_path / "cassettes", "once", JobStore(tmp_path / "store"), "run-1", worker=True)
    cassette = b.cassette("openai", request)
    assert not cassette.write_protected
    unrecorded = _request("POST", "https://api.openai.com/v1/chat/completions", b'{"other": 1}', {})
    assert cassette.can_play_response_for(unrecorded) is False  # goes live and is appended, no CassetteMiss
    later = C.Recorder(tmp_path / "cassettes", "once", JobStore(tmp_path / "store"), "run-2")
    assert later.cassette("openai", request).write_protected  # a later session: replay only


def test_replay_store_isolates_the_ledger_while_replaying_only(tmp_path):
    from pytest_finetunebench.providers import RunContext

    store = JobStore(tmp_path / "store")
    recorded, fresh = TuneRequest(MODEL, (TrainingPair("q", "a"),)), TuneRequest(MODEL, (TrainingPair("q2", "a2"),))
    _saved(C.Recorder(tmp_path / "cassettes", "once", store, "old"), recorded, "old")

    plain = RunContext(store)
    assert not plain.replaying("openai", recorded) and plain.ledger_store("openai", recorded) is store

    for mode, replays in (("none", True), ("once", True), ("new_episodes", False), ("all", False), ("off", False)):
        recorder = C.Recorder(tmp_path / "cassettes", mode, store)
        ctx = RunContext(store, recording=recorder.recording, replay_store=recorder.replay_store)
        assert ctx.replaying("openai", recorded) is replays, mode
        assert ctx.replaying("openai", MODEL) is replays, (
            mode
        )  # by model name (Endpoint.model), once the request was seen
        assert not ctx.replaying("local", recorded) and ctx.ledger_store("local", recorded) is store
        if replays:
            isolated = ctx.ledger_store("openai", recorded)
            assert isolated is ctx.ledger_store("openai", MODEL) and isolated.root.is_dir()
            assert store.root.resolve() not in isolated.root.resolve().parents and not any(isolated.root.iterdir())
            recorder.close()  # at session end
            assert not isolated.root.exists()
        else:
            assert ctx.ledger_store("openai", recorded) is store
    once = C.Recorder(tmp_path / "cassettes", "once", store)
    assert not RunContext(store, replay_store=once.replay_store).replaying(
        "openai", fresh
    )  # no cassette yet: it records


def test_replay_queue_keeps_recorded_order_for_polls(tmp_path):
    data = {
        "interactions": [
            {
                "request": {
                    "method": "GET",
                    "uri": "https://api.openai.com/v1/fine_tuning/jobs/ftjob-1",
                    "headers": {},
                    "body": None,
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {},
                    "body": json.dumps({"status": s}),
                },
            }
            for s in ("queued", "running", "succeeded")
        ]
    }
    cassette = C.Cassette(tmp_path / "c.json", "none", {}, data)
    seen = []
    for _ in range(3):
        req = _request("GET", "https://api.openai.com/v1/fine_tuning/jobs/ftjob-1", None, {})
        assert cassette.can_play_response_for(req)
        seen.append(json.loads(cassette.play_response(req)["body"]["string"])["status"])
    assert seen == ["queued", "running", "succeeded"]
    with pytest.raises(C.CassetteMiss) as info:
        cassette.can_play_response_for(_request("GET", "https://api.openai.com/v1/fine_tuning/jobs/ftjob-1", None, {}))
    assert str(info.value) == (
        f"cassette miss: no recorded response for GET /v1/fine_tuning/jobs/ftjob-1 in {tmp_path / 'c.json'} (all 3 "
        "recorded responses to it were already replayed); record what is missing with "
        "--ftb-record-mode=new_episodes, or all of it again with --ftb-record-mode=all"
    )


def test_non_http_providers_get_no_cassette(tmp_path):
    recorder = C.Recorder(tmp_path / "none-here", "none", JobStore(tmp_path / "store"))
    request = TuneRequest("local:smollm2-135m", (TrainingPair("q", "a"),))
    with recorder.recording("local", request), recorder.recording("published", request):
        pass
    with pytest.raises(C.CassetteError) as info:
        recorder.recording("openai", TuneRequest("local:x", ()))
    key = TuneRequest("local:x", ()).key()
    assert str(info.value) == (
        f"no cassette for local:x (openai, 0 training pairs, key {key}) at "
        f"{tmp_path / 'none-here' / 'openai' / 'local_x' / key}.json; three ways on: the provider's API key with "
        "--ftb-record-mode=once (tunes, answers and records this cassette; --ftb-record-mode=off runs live without "
        "one), a cassette recorded with the same cases and settings (--ftb-cassettes=DIR), or --ftb-responses=DIR to "
        "re-grade published answers"
    )


def test_old_vcrpy_is_refused_clearly(monkeypatch):
    monkeypatch.setattr(vcr, "__version__", "8.1.3")
    with pytest.raises(pytest.UsageError) as info:
        C.require_vcrpy()
    assert str(info.value) == (
        "vcrpy 8.1.3 is too old: openai>=3 talks through httpx2, which only vcrpy>=8.2 intercepts (older versions let "
        "its requests through unrecorded, silently); pip install -U 'vcrpy>=8.2'"
    )


def test_unknown_mode_is_a_usage_error(tmp_path):
    with pytest.raises(pytest.UsageError) as info:
        C.Recorder(tmp_path, "sometimes", JobStore(tmp_path))
    assert str(info.value) == "--ftb-record-mode=sometimes: expected one of none, once, new_episodes, all, off"


def test_a_cassette_records_the_versions_of_its_own_providers_sdks(tmp_path):
    """The SDKs come from the provider's spec: a Together cassette names together, an OpenAI one openai."""
    from importlib.metadata import version

    recorder = C.Recorder(tmp_path / "cassettes", "once", JobStore(tmp_path / "store"))
    request = TuneRequest("together:Qwen/Qwen3-8B", (TrainingPair("q", "a"),))
    together = recorder.cassette("together", request).meta["recorded_with"]
    assert set(together) == {"python", "pytest-finetunebench", "vcrpy", "together"}
    assert together["together"] == version("together")
    assert set(recorder.cassette("openai", TuneRequest(MODEL, (TrainingPair("q", "a"),))).meta["recorded_with"]) == {
        "python",
        "pytest-finetunebench",
        "vcrpy",
        "openai",
    }


def test_the_providers_that_speak_no_http_get_no_cassette_from_their_specs(tmp_path):
    from pytest_finetunebench.providers import ProviderSpec

    mine = ProviderSpec("inhouse", lambda name, ctx: False, lambda ctx: None, ("inhouse:x",), http=False)
    recorder = C.Recorder(tmp_path / "cassettes", "once", JobStore(tmp_path / "store"), specs=(mine,))
    assert (recorder.wants("inhouse"), recorder.wants("openai")) == (False, True)
    assert (
        C.Recorder(tmp_path, "once", JobStore(tmp_path)).wants("local"),
        C.Recorder(tmp_path, "once", JobStore(tmp_path)).wants("published"),
    ) == (False, False)
