"""--ftb-seeds=K: every tuned model is K trainings (seeds --ftb-seed .. +K-1), each its own job, tuned
once under pytest-xdist and on a rerun; untuned stages are asked once; --ftb-max-cost covers all K."""

from __future__ import annotations

import json

import pytest
from test_once import FACTS, write_cases

pytest.importorskip("xdist")
pytest.importorskip("openai")


def test_three_seeds_are_three_jobs_tuned_once_under_xdist_and_reused_on_a_rerun(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_finetunebench.testing import OpenAIEmulator

    items = write_cases(pytester)
    args = [
        "cases",
        "--ftb-model=gpt-4o-mini-2024-07-18",
        "--ftb-record-mode=off",
        "--ftb-poll-interval=0.01",
        "--ftb-baseline",
        "--ftb-seeds=3",
        "--ftb-seed=5",
        "--ftb-report=out.json",
    ]
    with OpenAIEmulator(job_polls=2, min_examples=1) as emu:
        monkeypatch.setenv("OPENAI_BASE_URL", emu.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        result = pytester.runpytest(*args, "-n", "3")
        # 3 trainings x 8 items (4 right each: the emulator memorizes) and the untuned base's 8 once
        result.assert_outcomes(passed=3 * len(FACTS), failed=3 * len(FACTS) + items)
        assert emu.jobs_created == 3
        assert sorted(job["seed"] for job in emu.jobs()) == [5, 6, 7]
        assert emu.count("POST /v1/chat/completions") == 4 * items
        pytester.runpytest(*args, "-p", "no:xdist").assert_outcomes(
            passed=3 * len(FACTS), failed=3 * len(FACTS) + items
        )
        assert emu.jobs_created == 3  # each seed's job found in the ledger, none launched again
    report = json.loads((pytester.path / "out.json").read_text())
    assert sorted({(i["target"], i["seed"]) for i in report["items"]}, key=str) == [
        ("gpt-4o-mini-2024-07-18", 5),
        ("gpt-4o-mini-2024-07-18", 6),
        ("gpt-4o-mini-2024-07-18", 7),
        ("gpt-4o-mini-2024-07-18@base", None),
    ]


def test_the_cost_limit_covers_every_seed_before_the_first_job(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_finetunebench.testing import OpenAIEmulator

    write_cases(pytester)
    args = ["cases", "--ftb-model=gpt-4o-mini-2024-07-18", "--ftb-record-mode=off", "--ftb-poll-interval=0.01"]
    args += ["--ftb-epochs=3", "--ftb-price=gpt-4o-mini-2024-07-18:1000", "-p", "no:xdist"]
    with OpenAIEmulator(job_polls=2, min_examples=1) as emu:
        monkeypatch.setenv("OPENAI_BASE_URL", emu.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        plan = (
            "gpt-4o-mini-2024-07-18 on 4 examples: ~118 tokens x 3 epochs = ~354 training tokens x $1000.00/1M"
            " = $0.35 (estimate); x 3 trainings (--ftb-seeds=3) = $1.06 for all 3"
        )
        refused = pytester.runpytest(*args, "--ftb-seeds=3", "--ftb-max-cost=1")
        refused.stdout.fnmatch_lines(
            [f"*run error: refusing to launch: estimated cost $1.06 exceeds --ftb-max-cost $1.00 ({plan})"]
        )
        assert emu.jobs_created == 0  # one job ($0.35) fits, the three do not: none launched
        pytester.runpytest(*args, "--ftb-seeds=3", "--ftb-max-cost=1.1").assert_outcomes(passed=12, failed=12)
        assert emu.jobs_created == 3
