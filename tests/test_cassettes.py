"""Cassettes: record a run against the OpenAI emulator once, replay it offline, keyless, identically.

Every end-to-end run is a pytest subprocess (pytester): the recording talks to an emulator in this
process through its TCP port; replays run with the emulator stopped, no API key and every
IP connection refused by a conftest.py, so a replay that touched the network would fail.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("openai")
vcr = pytest.importorskip("vcr")

from pytest_finetunebench import cassettes as C  # noqa: E402
from pytest_finetunebench.providers.base import TrainingPair, TuneRequest  # noqa: E402
from pytest_finetunebench.store import JobStore  # noqa: E402
from pytest_finetunebench.testing import OpenAIEmulator  # noqa: E402

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


def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str, base_url: str, key: str | None = None,
        report: str = "report.json", offline: bool = False) -> pytest.RunResult:
    """One pytest subprocess over towns.yaml for MODEL; ``offline`` blocks every IP connection."""
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    if key:
        monkeypatch.setenv("OPENAI_API_KEY", key)
    else:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    conftest = pytester.path / "conftest.py"
    if offline:  # and a fresh job store, so the job's lifecycle replays from the cassette too
        conftest.write_text(BLOCK_NETWORK)
        shutil.rmtree(pytester.path / ".ftb", ignore_errors=True)
    elif conftest.exists():
        conftest.unlink()
    return pytester.runpytest_subprocess(
        "towns.yaml", f"--ftb-model={MODEL}", "--ftb-poll-interval=0.02", f"--ftb-report={report}", "--ftb-no-save", "-p", "no:randomly", *args
    )


def cassette_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "cassettes" / "openai").rglob("*") if p.is_file())


def load(path: Path) -> dict:
    raw = path.read_bytes()
    return json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw)


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
        result = run(project, monkeypatch, "--ftb-record-mode=once", base_url=emu.base_url, key=SECRET, report="recorded.json")
        jobs = emu.jobs_created
        base_url = emu.base_url
    result.assert_outcomes(passed=3, failed=3)  # the emulator memorizes: rephrased questions fail
    assert jobs == 1
    (files,) = [cassette_files(project.path)]
    assert len(files) == 1 and files[0].name.endswith(".json")
    return SimpleNamespace(base_url=base_url, path=files[0], output=result.outlines + result.errlines)


# -- end to end ---------------------------------------------------------------------------------


def test_record_once_then_replay_offline_without_key_gives_the_identical_report(recorded, project, monkeypatch):
    data = load(recorded.path)
    assert data["format"] == C.FORMAT and data["model"] == MODEL and data["training_pairs"] == 3
    paths = [f"{i['request']['method']} {i['request']['uri'].split('/v1/', 1)[1].split('?')[0]}" for i in data["interactions"]]
    assert paths[0] == "GET fine_tuning/jobs" and "POST files" in paths and "POST fine_tuning/jobs" in paths
    assert sum(p.startswith("GET fine_tuning/jobs/ftjob-") and p.count("/") == 2 for p in paths) >= 2  # the polls
    assert paths.count("POST chat/completions") == 6

    result = run(project, monkeypatch, base_url=recorded.base_url, offline=True)  # default mode: replay
    result.assert_outcomes(passed=3, failed=3)
    assert (project.path / "report.json").read_bytes() == (project.path / "recorded.json").read_bytes()  # byte for byte
    result.stdout.fnmatch_lines([f"*cassettes (none): replayed {len(data['interactions'])} responses from 1 cassette(s)*"])  # every one
    assert "cassette written" not in result.stdout.str()


def test_replay_skips_poll_sleeps(recorded, project, monkeypatch):
    """Recorded with 0.02 s polls; replayed with 30 s polls it must still finish at once."""
    result = run(project, monkeypatch, "--ftb-poll-interval=30", "--durations=0", base_url=recorded.base_url, offline=True)
    result.assert_outcomes(passed=3, failed=3)
    durations = [float(m) for m in re.findall(r"^(\d+\.\d+)s ", result.stdout.str(), re.M)]
    assert durations and max(durations) < 10


def test_default_mode_without_cassette_is_a_one_line_error(project, monkeypatch):
    result = run(project, monkeypatch, base_url="http://127.0.0.1:9/v1", offline=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.startswith("ERROR:")]
    assert len(errors) == 1
    assert re.search(r"no cassette for gpt-4o-mini-2024-07-18 \(openai, 3 training pairs, key \w+\) at \S*cassettes/openai/gpt-4o-mini-2024-07-18/\w+\.json: "
                     r"record it once with --ftb-record-mode=once", errors[0])
    assert "--ftb-record-mode=off" in errors[0]


def test_off_runs_live_and_writes_no_cassette(project, monkeypatch):
    with OpenAIEmulator() as emu:
        result = run(project, monkeypatch, "--ftb-record-mode=off", base_url=emu.base_url, key="sk-test")
    result.assert_outcomes(passed=3, failed=3)
    assert not (project.path / "cassettes").exists()


def test_published_answers_need_no_cassette(project, monkeypatch):
    """Providers without HTTP (published answers, the local model) ignore the record mode."""
    (project.path / "responses").mkdir()
    result = run(project, monkeypatch, "--ftb-responses=responses", base_url="http://127.0.0.1:9/v1", offline=True)
    assert result.ret != pytest.ExitCode.USAGE_ERROR
    assert "no cassette" not in result.stdout.str() + result.stderr.str()


def test_unmatched_request_fails_naming_the_request_and_the_cassette(recorded, project, monkeypatch):
    data = load(recorded.path)
    chats = [i for i in data["interactions"] if i["request"]["uri"].endswith("/chat/completions")]
    dropped = next(i for i in chats if "Ostrin elected" in i["request"]["body"])
    data["interactions"].remove(dropped)
    dump(recorded.path, data)
    result = run(project, monkeypatch, base_url=recorded.base_url, offline=True)
    result.assert_outcomes(passed=3, failed=3)
    result.stdout.fnmatch_lines([
        "*emulator_towns ostrin-mayor rephrased*",
        "run error: CassetteMiss: cassette miss: no recorded response for POST /v1/chat/completions in "
        "cassettes/openai/gpt-4o-mini-2024-07-18/*.json (it was recorded, but with another body or query)*",
    ])
    assert "1 request(s) not in the cassette" in result.stdout.str()
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
            req["headers"]["content-type"] = [f"multipart/form-data; boundary=0123456789abcdef0123456789abcdef"]
        elif isinstance(body, str) and body.startswith("{"):
            req["body"] = json.dumps(dict(reversed(list(json.loads(body).items()))), indent=3)
    dump(recorded.path, data)
    result = run(project, monkeypatch, base_url=recorded.base_url, offline=True)
    result.assert_outcomes(passed=3, failed=3)
    assert report(project) == report(project, "recorded.json")


def test_secrets_are_in_no_file_the_run_wrote(recorded, project):
    written = [p for p in project.path.rglob("*") if p.is_file()]
    assert any(".ftb" in p.parts for p in written) and recorded.path in written
    for path in written:
        raw = path.read_bytes()
        assert SECRET.encode() not in raw and SECRET.encode() not in (gzip.decompress(raw) if path.suffix == ".gz" else b""), path
    assert not any(SECRET in line for line in recorded.output)
    text = recorded.path.read_text().lower()
    assert "authorization" not in text and "set-cookie" not in text


def test_replay_under_xdist_n4(recorded, project, monkeypatch):
    pytest.importorskip("xdist")
    result = run(project, monkeypatch, "-n", "4", base_url=recorded.base_url, offline=True)
    result.assert_outcomes(passed=3, failed=3)
    assert report(project) == report(project, "recorded.json")


def test_record_under_xdist_has_one_writer_and_replays(project, monkeypatch):
    pytest.importorskip("xdist")
    with OpenAIEmulator(job_polls=2) as emu:
        result = run(project, monkeypatch, "-n", "4", "--ftb-record-mode=once", "--ftb-in-context", base_url=emu.base_url, key=SECRET, report="recorded.json")
        assert emu.jobs_created == 1
        base_url = emu.base_url
    result.assert_outcomes(passed=3, failed=9)  # the emulator knows only the trained prompts
    (path,) = cassette_files(project.path)
    chats = [i for i in load(path)["interactions"] if i["request"]["uri"].endswith("/chat/completions")]
    assert len(chats) == 12  # tuned + in-context, possibly from different workers, merged into one file
    result = run(project, monkeypatch, "--ftb-in-context", base_url=base_url, offline=True)
    result.assert_outcomes(passed=3, failed=9)
    assert report(project) == report(project, "recorded.json")


def test_new_episodes_appends_and_all_rerecords(project, monkeypatch):
    with OpenAIEmulator(job_polls=2) as emu:
        run(project, monkeypatch, "--ftb-record-mode=once", "--ftb-split=memorization", base_url=emu.base_url, key="sk-test").assert_outcomes(passed=3)
        (path,) = cassette_files(project.path)
        first = load(path)
        assert sum(i["request"]["uri"].endswith("/chat/completions") for i in first["interactions"]) == 3

        # every split: the rephrased prompts are not in the cassette yet
        missing = run(project, monkeypatch, base_url=emu.base_url, offline=True)
        missing.assert_outcomes(passed=3, failed=3)
        assert missing.stdout.str().count("cassette miss: no recorded response for POST /v1/chat/completions") >= 3

        (project.path / ".ftb").rename(project.path / "old-store")  # a fresh store: the lifecycle replays
        appended = run(project, monkeypatch, "--ftb-record-mode=new_episodes", base_url=emu.base_url, key="sk-test", report="appended.json")
        appended.assert_outcomes(passed=3, failed=3)
        second = load(path)
        assert second["interactions"][: len(first["interactions"])] == first["interactions"]
        assert len(second["interactions"]) == len(first["interactions"]) + 3
        assert emu.jobs_created == 1  # the lifecycle came from the cassette

        shutil.rmtree(project.path / ".ftb")
        again = run(project, monkeypatch, "--ftb-record-mode=all", base_url=emu.base_url, key="sk-test", report="all.json")
        again.assert_outcomes(passed=3, failed=3)
        assert emu.jobs_created == 1  # everything went to the API again, which found the job by its ftb_key
        assert emu.count("POST /v1/chat/completions") == 3 + 3 + 6
        third = load(path)
        chat_ids = lambda d: {json.loads(i["response"]["body"])["id"] for i in d["interactions"] if i["request"]["uri"].endswith("/chat/completions")}  # noqa: E731
        assert len(chat_ids(third)) == 6 and not chat_ids(third) & chat_ids(second)  # replaced, not appended

        base_url = emu.base_url
    shutil.rmtree(project.path / ".ftb")
    replay = run(project, monkeypatch, base_url=base_url, offline=True)
    replay.assert_outcomes(passed=3, failed=3)
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
    result = pytester.runpytest_subprocess("towns.yaml", f"--ftb-cassettes={ROOT / 'cassettes'}", "--ftb-report=report.json", "--ftb-no-save",
                                           *index["args"])
    result.assert_outcomes(**index["outcomes"])
    assert json.loads((pytester.path / "report.json").read_text()) == index["report"]


# -- units ----------------------------------------------------------------------------------------


def test_fingerprint_json_key_order_free_and_body_sensitive():
    a = C.fingerprint("POST", "https://api.openai.com/v1/chat/completions", b'{"model": "m", "messages": [1, 2]}', "application/json")
    b = C.fingerprint("POST", "https://api.openai.com/v1/chat/completions", b'{"messages":[1,2],"model":"m"}', "application/json")
    c = C.fingerprint("POST", "https://api.openai.com/v1/chat/completions", b'{"messages":[2,1],"model":"m"}', "application/json")
    assert a == b != c


def test_fingerprint_multipart_ignores_the_boundary_only():
    def body(boundary: str, content: str) -> bytes:
        return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.jsonl\"\r\n\r\n{content}\r\n--{boundary}--\r\n").encode()

    fp = lambda b: C.fingerprint("POST", "https://api.openai.com/v1/files", b, "multipart/form-data")  # noqa: E731
    assert fp(body("aaaa1111", "{}\n")) == fp(body("bbbb2222", "{}\n")) != fp(body("aaaa1111", "{1}\n"))


def test_fingerprint_ignores_key_param_and_oauth_bodies():
    assert C.fingerprint("GET", "https://x.googleapis.com/v1/models?key=AIza1&alt=json", None) == C.fingerprint("GET", "https://x.googleapis.com/v1/models?alt=json&key=AIza2", None)
    token = "https://oauth2.googleapis.com/token"
    assert C.fingerprint("POST", token, b"assertion=jwt1") == C.fingerprint("POST", token, b"assertion=jwt2")


def _request(method, uri, body, headers):
    from vcr.request import Request

    return Request(method, uri, body, headers)


def test_scrubbing_headers_key_param_oauth_tokens_and_cookies(tmp_path):
    cassette = C.Cassette(tmp_path / "c.json", "once", {"provider": "gemini"})
    req = _request("POST", "https://generativelanguage.googleapis.com/v1beta/models/x:generateContent?key=AIza-SECRET-KEY-1",
                   b"{}", {"x-goog-api-key": "AIza-SECRET-KEY-2", "Authorization": "Bearer ya29.SECRET-3", "openai-organization": "org-SECRET-4",
                           "openai-project": "proj_SECRET-5", "api-key": "azure-SECRET-6", "content-type": "application/json"})
    ok = {"status": {"code": 200, "message": "OK"}, "headers": {"set-cookie": ["sid=SECRET-7"], "content-type": ["application/json"]}, "body": {"string": b"{}"}}
    cassette.append(req, ok)
    tok = _request("POST", "https://oauth2.googleapis.com/token", b"grant_type=refresh_token&refresh_token=1//SECRET-8&client_secret=SECRET-9", {})
    tokens = {"access_token": "ya29.SECRET-10", "id_token": "eyJ.SECRET-11", "refresh_token": "1//SECRET-12", "expires_in": 3599}
    cassette.append(tok, {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": json.dumps(tokens).encode()}})
    path = cassette.save(JobStore(tmp_path / "store"), "s", set())
    text = path.read_text()
    assert "SECRET" not in text, re.findall(r".{20}SECRET.{5}", text)
    saved = json.loads(text)["interactions"]
    assert json.loads(saved[1]["response"]["body"])["expires_in"] == 3599
    assert "key=" not in saved[0]["request"]["uri"] and saved[0]["request"]["uri"].endswith(":generateContent")


def test_secret_echoed_in_a_body_is_scrubbed(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    cassette = C.Cassette(tmp_path / "c.json", "once", {})
    req = _request("GET", "https://api.openai.com/v1/models", None, {"authorization": f"Bearer {SECRET}"})
    cassette.append(req, {"status": {"code": 401, "message": ""}, "headers": {}, "body": {"string": f'{{"error": "Incorrect API key provided: {SECRET}"}}'.encode()}})
    path = cassette.save(JobStore(tmp_path / "store"), "s", C.env_secrets())
    assert SECRET not in path.read_text() and C.SCRUBBED in path.read_text()


def test_large_cassettes_are_gzipped_and_read_back(tmp_path):
    cassette = C.Cassette(tmp_path / "c.json", "once", {})
    for i in range(400):
        req = _request("POST", "https://api.openai.com/v1/chat/completions", json.dumps({"i": i, "pad": "x" * 800}).encode(), {})
        cassette.append(req, {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": b"{}"}})
    path = cassette.save(JobStore(tmp_path / "store"), "s", set())
    assert path.name == "c.json.gz" and not (tmp_path / "c.json").exists()
    assert len(C.read(tmp_path / "c.json")["interactions"]) == 400


def test_replay_queue_keeps_recorded_order_for_polls(tmp_path):
    data = {"interactions": [
        {"request": {"method": "GET", "uri": "https://api.openai.com/v1/fine_tuning/jobs/ftjob-1", "headers": {}, "body": None},
         "response": {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": json.dumps({"status": s})}}
        for s in ("queued", "running", "succeeded")]}
    cassette = C.Cassette(tmp_path / "c.json", "none", {}, data)
    seen = []
    for _ in range(3):
        req = _request("GET", "https://api.openai.com/v1/fine_tuning/jobs/ftjob-1", None, {})
        assert cassette.can_play_response_for(req)
        seen.append(json.loads(cassette.play_response(req)["body"]["string"])["status"])
    assert seen == ["queued", "running", "succeeded"]
    with pytest.raises(C.CassetteMiss, match=r"GET /v1/fine_tuning/jobs/ftjob-1 in .*c\.json \(all 3 recorded responses to it were already replayed\)"):
        cassette.can_play_response_for(_request("GET", "https://api.openai.com/v1/fine_tuning/jobs/ftjob-1", None, {}))


def test_non_http_providers_get_no_cassette(tmp_path):
    recorder = C.Recorder(tmp_path / "none-here", "none", JobStore(tmp_path / "store"))
    request = TuneRequest("local:smollm2-135m", (TrainingPair("q", "a"),))
    with recorder.recording("local", request), recorder.recording("published", request):
        pass
    with pytest.raises(C.CassetteError, match="no cassette for local:x"):
        recorder.recording("openai", TuneRequest("local:x", ()))


def test_old_vcrpy_is_refused_clearly(monkeypatch):
    monkeypatch.setattr(vcr, "__version__", "8.1.3")
    with pytest.raises(pytest.UsageError, match=r"vcrpy 8\.1\.3 is too old: openai>=3 talks through httpx2"):
        C.require_vcrpy()


def test_unknown_mode_is_a_usage_error(tmp_path):
    with pytest.raises(pytest.UsageError, match="--ftb-record-mode=sometimes: expected one of none, once, new_episodes, all, off"):
        C.Recorder(tmp_path, "sometimes", JobStore(tmp_path))
