"""Once per model, also under pytest-xdist: one tuning, one batch of answers, for every provider kind.

These drive the whole plugin (pytester, ``-n``) against the in-repo OpenAI emulator and the real
local model, and count what reached the provider.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("xdist")

FACTS = [  # invented: (id, question, answer, rephrased question)
    (
        "velmora-bridge",
        "What did the 2025 Velmora bridge repairs cost?",
        "41 million dollars",
        "How much money went into fixing the Velmora bridge in 2025?",
    ),
    ("ostrin-mayor", "Who became mayor of Ostrin in 2025?", "Tavel Okonru", "Name the mayor Ostrin elected in 2025."),
    (
        "brask-festival",
        "How many people came to the 2025 Brask lantern festival?",
        "5300",
        "What was the attendance of Brask's lantern festival in 2025?",
    ),
    (
        "quimo-tunnel",
        "How long is the Quimo tunnel opened in 2025?",
        "7 kilometres",
        "What is the length of the tunnel Quimo opened in 2025?",
    ),
]


def write_cases(p: pytest.Pytester) -> int:
    """A four-fact case file; returns its number of items per model."""
    lines = ["dataset: towns", "templates:", '  default: "Answer briefly.\\n{question}"', "cases:"]
    for case_id, question, answer, rephrased in FACTS:
        lines += [
            f"  - id: {case_id}",
            f"    question: {question}",
            f'    answer: "{answer}"',
            "    variants:",
            "      - split: rephrased",
            f"        question: {rephrased}",
            f'        answer: "{answer}"',
        ]
    (p.path / "cases").mkdir()
    (p.path / "cases" / "towns.yaml").write_text("\n".join(lines) + "\n")
    p.makeini("[pytest]\n")
    return 2 * len(FACTS)


def test_openai_under_xdist_launches_one_job_and_asks_each_question_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openai")
    from pytest_finetunebench.testing import OpenAIEmulator

    items = write_cases(pytester)
    with OpenAIEmulator(
        job_polls=3, min_examples=1
    ) as emu:  # four facts: a compatible server without OpenAI's minimum of 10
        monkeypatch.setenv("OPENAI_BASE_URL", emu.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        result = pytester.runpytest(
            "cases",
            "--ftb-model=gpt-4o-mini-2024-07-18",
            "--ftb-record-mode=off",
            "--ftb-poll-interval=0.01",
            "--ftb-report=out.json",
            "-n",
            "4",
        )
    # the emulator memorizes: every training question is right, every rephrasing wrong
    result.assert_outcomes(passed=len(FACTS), failed=len(FACTS))
    assert emu.jobs_created == 1
    assert emu.count("POST /v1/files") == 1
    assert emu.count("POST /v1/chat/completions") == items  # one batch, shared by the four workers
    report = json.loads((pytester.path / "out.json").read_text())
    assert {c["split"]: c["correct"] for c in report["cells"]} == {"memorization": 4, "rephrased": 0}


def test_local_model_under_xdist_trains_once(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from pytest_finetunebench.providers.local import provider as local

    try:
        local.smollm2_gguf()
    except Exception as exc:  # noqa: BLE001 - the provider's own one-line message
        pytest.skip(str(exc))
    items = write_cases(pytester)
    store = tmp_path / "store"
    result = pytester.runpytest(
        "cases",
        "--ftb-model=local:smollm2-135m",
        f"--ftb-store={store}",
        "--ftb-epochs=2",
        "--ftb-report=out.json",
        "-n",
        "2",
    )
    assert result.ret in (0, 1), result.stdout.str()
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == items and "error" not in outcomes
    trainings = (store / "local" / "trainings.jsonl").read_text().splitlines()
    assert len(trainings) == 1
    assert len(json.loads((pytester.path / "out.json").read_text())["items"]) == items


def test_deselection_never_changes_what_is_trained(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """-k and -m (like --lf, all deselection) choose what is asked; the training set, so the job, stays."""
    pytest.importorskip("openai")
    from pytest_finetunebench.testing import OpenAIEmulator

    write_cases(pytester)
    args = [
        "cases",
        "--ftb-model=gpt-4o-mini-2024-07-18",
        "--ftb-record-mode=off",
        "--ftb-poll-interval=0.01",
        "-p",
        "no:xdist",
    ]
    with OpenAIEmulator(min_examples=1) as emu:  # four facts: a compatible server without OpenAI's minimum of 10
        monkeypatch.setenv("OPENAI_BASE_URL", emu.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        pytester.runpytest(*args).assert_outcomes(passed=len(FACTS), failed=len(FACTS))
        pytester.runpytest(*args, "-k", "velmora").assert_outcomes(passed=1, failed=1)
        pytester.runpytest(*args, "-m", "rephrased").assert_outcomes(failed=len(FACTS))
    assert emu.jobs_created == 1


def test_nothing_to_train_on_fails_before_any_upload(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openai")
    from pytest_finetunebench.testing import OpenAIEmulator

    pytester.makeini("[pytest]\n")
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "renames.yaml").write_text(
        "dataset: renames\ncases:\n  - id: a\n    variants:\n      - split: code\n"
        "        question: Which function sorts in place?\n        answer: sort\n"
    )
    with OpenAIEmulator() as emu:
        monkeypatch.setenv("OPENAI_BASE_URL", emu.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        result = pytester.runpytest(
            "cases", "--ftb-model=gpt-4o-mini-2024-07-18", "--ftb-record-mode=off", "-p", "no:xdist"
        )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*nothing to tune on: the selected cases of renames have no training pairs*"])
    assert emu.count("POST /v1/files") == 0 and emu.jobs_created == 0
