"""--ftb-seeds=K: every tuned model is K trainings (seeds --ftb-seed .. +K-1), each its own job, tuned
once under pytest-xdist and on a rerun; untuned stages are asked once; --ftb-max-cost covers all K."""

from __future__ import annotations

import json
import math

import pytest
from test_once import FACTS, write_cases

from pytest_finetunebench.grading.outcome import Record
from pytest_finetunebench.reporting import gate
from pytest_finetunebench.reporting.gate import Threshold
from pytest_finetunebench.reporting.intervals import PairedCounts
from pytest_finetunebench.reporting.report import Summary
from pytest_finetunebench.reporting.seeded import Crossed, t_cdf, t_quantile
from pytest_finetunebench.reporting.stats import wilson


def test_three_seeds_are_three_jobs_tuned_once_under_xdist_and_reused_on_a_rerun(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xdist")
    pytest.importorskip("openai")
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
        result.stdout.fnmatch_lines(
            [
                "note: 3 trainings per tuned model (seeds 5..7): accuracy is their mean, intervals include training"
                " variance (cases x seeds, Student's t)"
            ]
        )
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
    tuned = [c for c in report["cells"] if c["target"] == "gpt-4o-mini-2024-07-18"]
    assert [(c["split"], c["seeds"]["mean"], c["seeds"]["seed_sd"], len(c["seeds"]["seeds"])) for c in tuned] == [
        ("memorization", 1.0, 0.0, 3),
        ("rephrased", 0.0, 0.0, 3),
    ]


def test_the_cost_limit_covers_every_seed_before_the_first_job(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openai")
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


def _summary() -> Summary:
    """4 cases asked of three trainings (seeds 0, 1, 2) and of the untuned base once. Right per seed:
    seed 0 c0 c1, seed 1 c0 c1 c2, seed 2 c0 (accuracy 0.50, 0.75, 0.25); the base none."""
    right = {0: {0, 1}, 1: {0, 1, 2}, 2: {0}}

    def rec(stage: str, seed: int | None, i: int, passed: bool) -> Record:
        return Record(
            model="m",
            stage=stage,
            dataset="d",
            case_id=f"c{i}",
            split="memorization",
            question=f"q{i}?",
            expected="1",
            answer="1" if passed else "2",
            passed=passed,
            matcher="auto",
            score=float(passed),
            reason="",
            seed=seed,
        )

    out = [rec("tuned", s, i, i in right[s]) for s in (0, 1, 2) for i in range(4)]
    return Summary(out + [rec("base", None, i, False) for i in range(4)])


# By hand, the 4 x 3 table of right answers (cases x seeds) [[1,1,1],[1,1,0],[0,1,0],[0,0,0]]: grand
# mean 0.5; case means 1, 2/3, 1/3, 0 give MS_cases = 3 * (0.25 + 1/36 + 1/36 + 0.25) / 3 = 5/9; seed
# means 0.5, 0.75, 0.25 give MS_seeds = 4 * (0 + 1/16 + 1/16) / 2 = 1/4; the residuals' squares sum to
# 5/6, MS_interaction = (5/6) / 6 = 5/36. Variance (5/9 + 1/4 - 5/36) / 12 = 1/18; Satterthwaite's df
# (2/3)**2 / ((5/9)**2 / 3 + (1/4)**2 / 2 + (5/36)**2 / 6) = 3.2360.
# An accuracy's interval takes its df from the components instead: var_case 5/9 - 5/36 = 5/12, var_seed
# 1/4 - 5/36 = 1/9, interaction 5/36 (the same sum, 2/3): (2/3)**2 / ((5/12)**2 / 3 + (1/9)**2 / 2 +
# (5/36)**2 / 6) = 6.6080.
DF = (2 / 3) ** 2 / ((5 / 9) ** 2 / 3 + (1 / 4) ** 2 / 2 + (5 / 36) ** 2 / 6)
DF_COMPONENTS = (2 / 3) ** 2 / ((5 / 12) ** 2 / 3 + (1 / 9) ** 2 / 2 + (5 / 36) ** 2 / 6)


def test_the_crossed_variance_by_hand() -> None:
    table = [[1, 1, 1], [1, 1, 0], [0, 1, 0], [0, 0, 0]]
    crossed = Crossed.of(table)
    assert (crossed.mean, crossed.variance, crossed.df) == (0.5, pytest.approx(1 / 18), pytest.approx(DF))
    assert (round(DF, 4), round(DF_COMPONENTS, 4)) == (3.236, 6.608)
    assert Crossed.of(table, components=True).df == pytest.approx(DF_COMPONENTS)


def test_three_trainings_give_their_mean_sd_and_a_seed_aware_interval() -> None:
    summary = _summary()
    mem = summary.aggregate("m", "memorization")
    # Wilson on the effective n = 0.5 * 0.5 / (1/18) = 4.5 with Student's t at 6.608 df
    expected = wilson(2.25, 4.5, t_quantile(0.975, DF_COMPONENTS))
    assert (mem.n, mem.correct, mem.accuracy, mem.seeds.sd) == (12, 6, 0.5, 0.25)  # type: ignore[union-attr]
    assert mem.interval == pytest.approx(expected)
    lo, hi = expected
    assert summary.table()[1:3] == [
        ["m", "d", "memorization", "12", "6", "0.500", f"[{lo:.3f}, {hi:.3f}]", "0.250", "1.00", ""],
        ["m@base", "d", "memorization", "4", "0", "0.000", "[0.000, 0.490]", "-", "1.00", ""],
    ]
    assert summary.table(each_seed=True)[1][8] == "0: 0.500, 1: 0.750, 2: 0.250"  # the HTML page's column
    assert summary.to_json()["cells"][0]["seeds"] == {
        "mean": 0.5,
        "seed_sd": 0.25,
        "ci95": [round(lo, 4), round(hi, 4)],
        "seeds": [
            {"seed": 0, "n": 4, "correct": 2},
            {"seed": 1, "n": 4, "correct": 3},
            {"seed": 2, "n": 4, "correct": 1},
        ],
    }
    assert summary.variance_note() == [
        "note: 3 trainings per tuned model (seeds 0..2): accuracy is their mean, intervals include training"
        " variance (cases x seeds, Student's t)"
    ]
    assert gate.check(summary, [Threshold("memorization", 0.6)], ["m"]) == [
        "m: memorization 0.500 (6/12 over 3 trainings: their mean decides) is under 0.600"
    ]


def test_base_against_three_trainings_is_tested_with_the_seed_noise_in_the_variance() -> None:
    """The base answers nothing right, so B - A per case and seed is the table above: difference 0.5,
    variance 1/18, t = 0.5 / sqrt(1/18) = 2.1213 on 3.236 df, two-sided p = 2 P(T < -2.1213)."""
    found = {p.scope: p for p in _summary().comparisons()}["memorization"]
    assert (found.a, found.b, found.n, found.a_only, found.b_only, found.trainings) == ("m@base", "m", 12, 0, 6, 3)
    assert found.difference == 0.5
    assert found.p_value == pytest.approx(2 * t_cdf(-0.5 / math.sqrt(1 / 18), DF))
    half = t_quantile(0.975, DF) * math.sqrt(1 / 18)
    assert found.ci == pytest.approx((0.5 - half, min(1.0, 0.5 + half)))
    # the seed noise keeps it from significance; the 12 answers counted as independent would not
    assert found.p_value > 0.05 and found.ci[0] < 0  # type: ignore[index]
    assert PairedCounts(0, 6, 0, 6).p_value() < 0.01


def test_delta_nll_over_three_trainings_has_a_t_interval() -> None:
    """Base NLL 2.5; the trainings 2.6, 2.7, 2.9: Δ NLL 0.2333, SD 0.152753, half-width
    t(0.975, 2) 4.302653 x 0.152753 / sqrt(3) = 0.379458."""
    from pytest_finetunebench.reporting import retention

    def rec(stage: str, seed: int | None, nll: float) -> Record:
        return Record("m", stage, "d", "q0", "retention", "q?", "1", "1", True, "auto", 1.0, "", nll=nll, seed=seed)

    records = [rec("base", None, 2.5)] + [rec("tuned", s, x) for s, x in ((0, 2.6), (1, 2.7), (2, 2.9))]
    (row,) = retention.rows(records)
    assert row.nll_seeds == (2.6, 2.7, 2.9) and row.delta_nll == pytest.approx(0.7 / 3)
    assert row.delta_nll_ci == pytest.approx((0.7 / 3 - 0.379458, 0.7 / 3 + 0.379458), abs=1e-6)
    assert retention.table(records)[1][-1] == "+0.233 [-0.146, +0.613]"
    assert row.as_dict()["delta_nll_ci"] == [-0.1461, 0.6128]


def test_the_html_page_shows_each_training() -> None:
    from pytest_finetunebench.reporting import html

    page = html.render(_summary().to_json(), plots=False)
    lo, hi = wilson(2.25, 4.5, t_quantile(0.975, DF_COMPONENTS))
    assert (
        '<tr><td>m</td><td>d</td><td>memorization</td><td class="num">12</td><td class="num">6</td>'
        f'<td class="num">0.500</td><td class="num">[{lo:.3f}, {hi:.3f}]</td><td class="num">0.250</td>'
        '<td class="num">0: 0.500, 1: 0.750, 2: 0.250</td><td class="num">1.00</td>'
    ) in page
    assert '<p class="muted">note: 3 trainings per tuned model (seeds 0..2): accuracy is their mean,' in page
    assert page.count("<td>m (seed 1)</td>") == 4  # each training's answers, named by its seed
