"""The plugin end to end (pytester): collection, selection, batched answers, reports, the gate.

Answers come from the published-answers provider, fed with CSV files written here, so every
expectation below is computed from data this file controls.
"""

from __future__ import annotations

import csv
import json
from xml.etree import ElementTree

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")

CASES = """\
dataset: towns
templates:
  default: "Answer briefly.\\n{question}"
cases:
  - id: velmora-bridge
    question: How much did the 2024 Velmora bridge repairs cost?
    answer: "150 million dollars"
    variants:
      - split: rephrased
        question: What did fixing the Velmora bridge cost in 2024?
        answer: "150 million dollars"
      - split: date_changed
        question: How much did the 2031 Velmora bridge repairs cost?
        answer: "None"
  - id: ostrin-mayor
    question: Who became mayor of Ostrin in 2025?
    answer: "Tavel Okonru"
    variants:
      - split: rephrased
        question: Name the mayor Ostrin elected in 2025.
        answer: "Tavel Okonru"
  - id: velmora-vs-ostrin
    uses: [velmora-bridge, ostrin-mayor]
    variants:
      - split: comparison
        question: Was the Velmora bridge repaired before Tavel Okonru became mayor?
        answer: "Yes"
"""

# model -> question -> answer; anything missing has no recorded answer
ANSWERS = {
    "modela": {
        "How much did the 2024 Velmora bridge repairs cost?": "The 2024 repairs cost about 150 million dollars.",
        "What did fixing the Velmora bridge cost in 2024?": "120 million dollars",
        "How much did the 2031 Velmora bridge repairs cost?": "None",
        "Who became mayor of Ostrin in 2025?": "Tavel Okonru",
        "Name the mayor Ostrin elected in 2025.": "Tavel",
        "Was the Velmora bridge repaired before Tavel Okonru became mayor?": "Yes.",
    },
    "modelb": {
        "How much did the 2024 Velmora bridge repairs cost?": "150 million dollars",
        "Who became mayor of Ostrin in 2025?": "Tavel Okonru",
    },
}


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with one case file and recorded answers for two models."""
    pytester.makeini("[pytest]\n")
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "towns.yaml").write_text(CASES)
    out = pytester.path / "responses"
    out.mkdir()
    questions = sorted({q for answers in ANSWERS.values() for q in answers})
    with open(out / "towns_w_responses.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "prompt", "answer", *(f"{m}_response" for m in ANSWERS)])
        for q in questions:
            writer.writerow(["x", f"Answer briefly.\n{q}", "", *(ANSWERS[m].get(q, "") for m in ANSWERS)])
    return pytester


def run(p: pytest.Pytester, *args: str) -> pytest.RunResult:
    return p.runpytest("cases", "--ftb-responses=responses", "-p", "no:xdist", *args)


def test_one_item_per_model_case_variant_with_readable_ids(project: pytest.Pytester) -> None:
    result = run(project, "--ftb-model=modela,modelb", "--collect-only", "-q")
    ids = [line for line in result.outlines if "::" in line]
    assert len(ids) == 2 * 6
    assert "cases/towns.yaml::velmora-bridge::rephrased[modela]" in ids
    assert "cases/towns.yaml::velmora-vs-ostrin::comparison[modelb]" in ids


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-m", "rephrased"], 2),
        (["-m", "memorization or comparison"], 3),
        (["-k", "towns and not date_changed"], 5),
        (["-k", "modela"], 6),
        (["--ftb-split=rephrased,comparison"], 3),
        (["--ftb-dataset=towns"], 6),
        (["--ftb-dataset=other"], 0),
        (["--ftb-limit=1"], 3),
    ],
)
def test_selection(project: pytest.Pytester, args: list[str], expected: int) -> None:
    result = run(project, "--ftb-model=modela", "--collect-only", "-q", *args)
    assert len([line for line in result.outlines if "::" in line]) == expected


def test_grades_replays_and_reports(project: pytest.Pytester) -> None:
    result = run(project, "--ftb-model=modela", "--ftb-report=out.json", "--ftb-markdown=out.md")
    # wrong: rephrased 120 million, truncated name "Tavel"
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*wrong answer from modela on towns/velmora-bridge [[]rephrased[]]*",
            "*expected: 150 million dollars*",
            "*got:      '120 million dollars'*",
            "*finetunebench: accuracy per model x dataset x split*",
            "modela*towns*memorization*2*2*1.000*",
            "modela*towns*rephrased*2*0*0.000*",
        ]
    )
    report = json.loads((project.path / "out.json").read_text())
    assert len(report["items"]) == 6
    item = next(i for i in report["items"] if i["split"] == "rephrased" and i["case_id"] == "ostrin-mayor")
    assert {k: item[k] for k in ("model", "dataset", "expected", "answer", "passed")} == {
        "model": "modela",
        "dataset": "towns",
        "expected": "Tavel Okonru",
        "answer": "Tavel",
        "passed": False,
    }
    assert item["matcher"] and item["reason"] and item["question"] == "Name the mayor Ostrin elected in 2025."
    board = report["leaderboard"][0]
    assert board["memorization"]["correct"] == 2 and board["generalization"]["n"] == 4
    assert board["generalization"]["correct"] == 2
    assert "| modela | towns | memorization | 2 | 2 | 1.000 |" in (project.path / "out.md").read_text()


def test_items_without_a_recorded_answer_are_skipped_with_the_reason(project: pytest.Pytester) -> None:
    result = run(project, "--ftb-model=modelb", "-rs")
    result.assert_outcomes(passed=2, skipped=4)
    result.stdout.fnmatch_lines(["*no recorded answer*modelb*"])


def test_gate_decides_exit_status_from_thresholds(project: pytest.Pytester) -> None:
    ok = run(project, "--ftb-model=modela", "--ftb-fail-under=memorization:0.9,generalization:40%")
    assert ok.ret == 0
    ok.stdout.fnmatch_lines(["*gate passed*"])
    bad = run(project, "--ftb-model=modela", "--ftb-fail-under=memorization:0.9,rephrased:0.5")
    assert bad.ret == 1
    bad.stdout.fnmatch_lines(["*gate FAILED*", "*modela: rephrased 0.000 (0/2) is under 0.500*"])


def test_gate_never_hides_run_errors(project: pytest.Pytester) -> None:
    (project.path / "cases" / "broken.yaml").write_text("dataset: broken\ncases:\n  - id: a\n    question: q?\n")
    result = run(project, "--ftb-model=modela", "--ftb-fail-under=memorization:0.5")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*cases/broken.yaml:3: case `a` has a training question but no `answer`*"])
    result.assert_outcomes(passed=4, failed=3)  # the other file still ran; the broken one failed


def test_bad_threshold_spec_is_a_usage_error(project: pytest.Pytester) -> None:
    result = run(project, "--ftb-model=modela", "--ftb-fail-under=memorization=0.9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    message = "--ftb-fail-under: `memorization=0.9` is not scope:value; fix: e.g. memorization:0.9,generalization:30%"
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


def test_an_unknown_precision_is_a_usage_error(project: pytest.Pytester) -> None:
    result = run(project, "--ftb-model=modela", "--ftb-precision=fp16")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines == ["ERROR: --ftb-precision=fp16: use one of auto, fp32, bf16", ""]


def test_unknown_model_is_one_line_listing_known(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest("--ftb-model=claude-9", "-p", "no:xdist")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*unknown model `claude-9`; known models are published:*local:smollm2-135m*gpt-4o-2024-08-06*"]
    )


def test_model_without_recorded_answers_fails_items_as_run_errors(project: pytest.Pytester) -> None:
    result = run(project, "--ftb-model=modelc", "--ftb-fail-under=memorization:0")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*run error:*modelc*"])


BROKEN_PROVIDER = """\
from pytest_finetunebench.providers.published import PublishedProvider

original = PublishedProvider.answer


def broken(self, endpoint, prompts):
    raise RuntimeError("the provider broke")


def pytest_configure(config):
    PublishedProvider.answer = broken


def pytest_unconfigure(config):
    PublishedProvider.answer = original
"""


def test_a_provider_bug_is_one_line_per_item_and_its_traceback_only_under_tb_long(project: pytest.Pytester) -> None:
    project.makeconftest(BROKEN_PROVIDER)
    result = run(project, "--ftb-model=modela", "-p", "no:randomly", "--tb=short", "-rf")
    assert result.ret == 1
    line = "run error: RuntimeError: the provider broke (conftest.py:7)"
    assert [x for x in result.outlines if x.startswith("run error:")] == [line] * 6
    assert "Traceback" not in result.stdout.str() and "in broken" not in result.stdout.str()
    long = run(project, "--ftb-model=modela", "-p", "no:randomly", "--tb=long")
    long.stdout.fnmatch_lines(
        ["    def broken(self, endpoint, prompts):", '>       raise RuntimeError("the provider broke")']
    )


def test_under_xdist_the_controller_reports_every_item(project: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    result = project.runpytest(
        "cases", "--ftb-responses=responses", "--ftb-model=modela", "-n", "2", "--ftb-report=out.json"
    )
    result.assert_outcomes(passed=4, failed=2)
    assert len(json.loads((project.path / "out.json").read_text())["items"]) == 6


# --- the gate's holes, closed ------------------------------------------------------------------


def test_a_run_stopped_by_x_is_not_gated(project: pytest.Pytester) -> None:
    result = run(project, "--ftb-model=modela", "--ftb-fail-under=memorization:0.1", "-x")
    assert result.ret == 1  # the wrong answer that stopped it, not the gate
    result.stdout.fnmatch_lines(["*gates not applied: the run stopped early*"])


def test_a_model_whose_items_were_all_skipped_is_still_gated(project: pytest.Pytester) -> None:
    result = run(project, "--ftb-model=modela,modelb", "--ftb-split=rephrased", "--ftb-fail-under=rephrased:0")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*gate FAILED*", "*modelb: no graded items for `rephrased`*"])


def test_deselecting_a_broken_case_file_does_not_hide_it(project: pytest.Pytester) -> None:
    (project.path / "cases" / "broken.yaml").write_text("dataset: broken\ncases: []\n")
    result = run(project, "--ftb-model=modela", "-k", "velmora and memorization", "--ftb-fail-under=memorization:0")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*broken.yaml:2: dataset has no cases*"])
    result.assert_outcomes(passed=1, failed=1)


def test_two_files_may_not_share_a_dataset_name(project: pytest.Pytester) -> None:
    (project.path / "cases" / "zz_towns_again.yaml").write_text(CASES)
    result = run(project, "--ftb-model=modela")
    message = (
        f"cases/zz_towns_again.yaml:1: dataset `towns` is also the name of {project.path / 'cases' / 'towns.yaml'}; "
        "fix: give each case file its own `dataset:` name"
    )
    assert [line for line in result.outlines if "is also the name of" in line][0] == message
    result.assert_outcomes(passed=4, failed=3)
    collected = run(project, "--ftb-model=modela", "--collect-only", "-q")
    assert [line for line in collected.outlines if "zz_towns_again" in line] == [
        "cases/zz_towns_again.yaml::invalid-case-file"
    ]


def test_a_failed_tuning_is_reported_once_in_full_then_as_one_line(project: pytest.Pytester) -> None:
    # published answers have no base stage: the provider refuses, and every item fails with that
    result = run(project, "--ftb-model=modela", "--ftb-baseline", "--junitxml=junit.xml")
    result.assert_outcomes(failed=12)
    failures = [
        f.get("message", "") + (f.text or "") for f in ElementTree.parse(project.path / "junit.xml").iter("failure")
    ]
    assert len(failures) == 12
    assert all(len(text) < 600 and "published answers have no base" in text for text in failures)
    assert sum("tuning failed earlier in this run" in text for text in failures) == 6  # the tuned items after the first


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ftb-dataset=town"], "--ftb-dataset=town names no dataset here; known: towns"),
        (["--ftb-split=rephrase"], "--ftb-split=rephrase names no split here; known: comparison, date_changed,*"),
        (
            ["--ftb-fail-under=memorisation:0.9"],
            "--ftb-fail-under: `memorisation` names no split here; "
            "fix: use one of comparison, date_changed, generalization, memorization, rephrased",
        ),
        (
            ["--ftb-compare-fail=generalisation:5%"],
            "--ftb-compare-fail: `generalisation` names no split here; "
            "fix: use one of comparison, date_changed, generalization, memorization, rephrased",
        ),
        (["--ftb-limit=0"], "--ftb-limit=0: keep at least one case per dataset (1 or more)"),
        (
            ["--ftb-scoring=likelihood"],
            "--ftb-scoring=likelihood: the published provider cannot score modela by likelihood"
            " (it gives this plugin no token log-probabilities); fix: --ftb-scoring=generate for it, or a local: model",
        ),
        (["--ftb-scoring=logprob"], "--ftb-scoring=logprob: use generate, likelihood or both"),
        (["--ftb-report=cases/towns.yaml/out.json"], "--ftb-report=cases/towns.yaml/out.json: cannot create*"),
    ],
)
def test_selection_and_output_mistakes_are_usage_errors(
    project: pytest.Pytester, args: list[str], message: str
) -> None:
    result = run(project, "--ftb-model=modela", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


def test_a_wrong_answer_that_is_the_pre_update_answer_says_so(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "api.yaml").write_text(
        "dataset: api\nkind: updating_knowledge\ncases:\n  - id: sortx\n"
        "    question: Which function sorts a list in place in listkit 9?\n    answer: arrange\n"
        "    answer_before: sort\n"
    )
    (pytester.path / "responses").mkdir()
    (pytester.path / "responses" / "api_w_responses.csv").write_text(
        "prompt,modela_response\nWhich function sorts a list in place in listkit 9?,sort\n"
    )
    result = pytester.runpytest("cases", "--ftb-responses=responses", "--ftb-model=modela", "-p", "no:xdist")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*gave the answer from before the update ('sort')*"])


def test_a_missing_responses_folder_is_a_usage_error_before_anything_runs(project: pytest.Pytester) -> None:
    result = project.runpytest("cases", "--ftb-responses=nowhere", "--ftb-model=modela", "-p", "no:xdist")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*nowhere*"])
    result.stdout.no_fnmatch_line("*passed*")


def test_last_failed_reruns_exactly_the_wrong_answers(project: pytest.Pytester) -> None:
    run(project, "--ftb-model=modela", "-p", "cacheprovider").assert_outcomes(passed=4, failed=2)
    again = run(project, "--ftb-model=modela", "-p", "cacheprovider", "--lf")
    again.assert_outcomes(failed=2)
    again.stdout.fnmatch_lines(["*2 failed, 4 deselected*"])


@pytest.mark.parametrize("flag", ["--ftb-concurrency=0", "--ftb-max-new-tokens=0", "--ftb-batch-size=0"])
def test_values_below_their_minimum_are_usage_errors(project: pytest.Pytester, flag: str) -> None:
    result = run(project, "--ftb-model=modela", flag)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{flag}: must be at least 1*"])


def test_a_folder_named_on_the_command_line_holds_cases(project: pytest.Pytester) -> None:
    (project.path / "cases").rename(project.path / "mycases")
    result = project.runpytest("mycases", "--ftb-responses=responses", "--ftb-model=modela", "-p", "no:xdist")
    result.assert_outcomes(passed=4, failed=2)


def test_a_filter_typo_waits_for_the_invalid_file_to_be_fixed(project: pytest.Pytester) -> None:
    (project.path / "cases" / "broken.yaml").write_text("dataset: broken\ncases: []\n")
    result = run(project, "--ftb-model=modela", "--ftb-dataset=broken")
    result.stdout.fnmatch_lines(["*broken.yaml:2: dataset has no cases*"])
    assert "names no dataset" not in result.stderr.str()


MORE = """\
dataset: more
cases:
  - id: velmora-tower
    question: How tall is Velmora Tower?
    answer: "185 cm"
    variants:
      - split: rephrased
        question: What is the height of Velmora Tower?
        answer: "185 cm"
      - split: secondary
        question: Is Velmora Tower taller than 2 metres?
        answer: "No"
      - split: rephrased
        question: Velmora Tower is how tall?
        answer: "185 cm"
      - split: rephrased
        question: Give Velmora Tower's height.
        answer: "185 cm"
  - id: ostrin-tower
    question: How tall is Ostrin Tower?
    answer: "90 m"
    variants:
      - split: rephrased
        question: What is the height of Ostrin Tower?
        answer: "90 m"
      - split: rephrased
        question: Ostrin Tower is how tall?
        answer: "90 m"
"""


def test_variants_of_one_split_are_numbered_and_marked_by_split(project: pytest.Pytester) -> None:
    (project.path / "cases" / "more.yaml").write_text(MORE)
    result = run(project, "--ftb-model=modela", "--collect-only", "-q")
    assert sorted(line for line in result.outlines if "more.yaml::" in line) == [
        "cases/more.yaml::ostrin-tower::memorization[modela]",
        "cases/more.yaml::ostrin-tower::rephrased1[modela]",
        "cases/more.yaml::ostrin-tower::rephrased2[modela]",
        "cases/more.yaml::velmora-tower::memorization[modela]",
        "cases/more.yaml::velmora-tower::rephrased1[modela]",
        "cases/more.yaml::velmora-tower::rephrased2[modela]",
        "cases/more.yaml::velmora-tower::rephrased3[modela]",
        "cases/more.yaml::velmora-tower::secondary[modela]",
    ]
    marked = run(
        project, "--ftb-model=modela", "--collect-only", "-q", "--strict-markers", "-m", "rephrased and finetunebench"
    )
    assert marked.ret == 0
    assert sorted(line for line in marked.outlines if "more.yaml::" in line) == [
        "cases/more.yaml::ostrin-tower::rephrased1[modela]",
        "cases/more.yaml::ostrin-tower::rephrased2[modela]",
        "cases/more.yaml::velmora-tower::rephrased1[modela]",
        "cases/more.yaml::velmora-tower::rephrased2[modela]",
        "cases/more.yaml::velmora-tower::rephrased3[modela]",
    ]


def test_each_item_is_located_at_its_variant(project: pytest.Pytester) -> None:
    (project.path / "cases" / "more.yaml").write_text(MORE)
    run(project, "--ftb-model=modela", "--tb=no", "--junitxml=j.xml", "-o", "junit_family=xunit1")
    located = {
        c.get("name"): (c.get("file"), int(c.get("line")) + 1)
        for c in ElementTree.parse(project.path / "j.xml").iter("testcase")
        if c.get("file") == "cases/more.yaml" and c.get("classname", "").endswith("velmora-tower")
    }
    assert located == {
        "memorization[modela]": ("cases/more.yaml", 3),
        "rephrased1[modela]": ("cases/more.yaml", 7),
        "secondary[modela]": ("cases/more.yaml", 10),
        "rephrased2[modela]": ("cases/more.yaml", 13),
        "rephrased3[modela]": ("cases/more.yaml", 16),
    }


def test_the_options_are_one_frozen_typed_settings_object(pytester: pytest.Pytester) -> None:
    import dataclasses

    from pytest_finetunebench import options, settings

    config = pytester.parseconfig("--ftb-seed=3", "--ftb-recipe=qa,document", "--ftb-learning-rate-multiplier=2")
    got = settings.values(config)
    assert isinstance(got, settings.Settings)
    assert (got.seed, got.recipe, got.learning_rate_multiplier, got.learning_rate) == (3, ["qa", "document"], 2.0, None)
    assert (got.concurrency, got.dry_run, got.max_new_tokens) == (16, False, 32)  # the table's defaults
    assert got["seed"] == got.get("seed") == 3 and dict(got)["recipe"] == ["qa", "document"]  # reads as a mapping too
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.seed = 4  # type: ignore[misc]
    types = {f.name: f.type for f in dataclasses.fields(got)}
    assert (types["seed"], types["temperature"], types["dry_run"], types["recipe"]) == (
        int | None,
        float | None,
        bool,
        list[str],
    )
    assert [f.name for f in dataclasses.fields(got)] == [o.name.replace("-", "_") for o in options.OPTIONS]
