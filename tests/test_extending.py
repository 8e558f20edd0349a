"""A team's own provider, registered from its conftest.py through the plugin's hook, runs end to
end with the built-in guarantees: tuned once under pytest-xdist and across reruns, reported."""

from __future__ import annotations

import json

import pytest

CONFTEST = '''
import json
from pathlib import Path

from pytest_finetunebench.providers import ProviderSpec
from pytest_finetunebench.providers.base import Answer, Endpoint

SERVICE = Path(__file__).parent / "service"  # stands for the in-house tuning service


class InHouse:
    """Tunes by storing the pairs as a "model" (one file per job); answers from it."""

    name = "inhouse"

    def __init__(self, ctx):
        self.ctx = ctx

    def endpoints(self, request, stages):
        SERVICE.mkdir(exist_ok=True)
        model_id = f"inhouse-{request.key()}"
        (SERVICE / f"{model_id}.json").write_text(json.dumps({p.prompt: p.answer for p in request.pairs}))
        with open(SERVICE / "jobs.log", "a") as log:  # every tuning job the service ran
            log.write(model_id + "\\n")
        return {stage: Endpoint(request.model, stage, model_id if stage == "tuned" else "untuned") for stage in stages}

    def answer(self, endpoint, prompts):
        if endpoint.handle == "untuned":
            return [Answer("I do not know") for _ in prompts]
        known = json.loads((SERVICE / f"{endpoint.handle}.json").read_text())
        return [Answer(known.get(p.text, "I do not know")) for p in prompts]


def pytest_ftb_providers(config):
    return [ProviderSpec("inhouse", lambda name, ctx: name.startswith("inhouse:"), InHouse, ("inhouse:<model>",), http=False)]
'''

CASES = """dataset: towns
cases:
""" + "".join(f"""  - id: t{i}
    question: What is the river of town {i}?
    answer: River{i}
    variants:
      - split: rephrased
        question: Which river runs through town {i}?
        answer: River{i}
""" for i in range(6))


@pytest.fixture
def team(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\n")
    pytester.makeconftest(CONFTEST)
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "towns.yaml").write_text(CASES)
    return pytester


def test_a_provider_from_conftest_runs_end_to_end_and_tunes_once(team: pytest.Pytester) -> None:
    args = ("cases", "--ftb-model=inhouse:town-model", "--ftb-baseline", "--ftb-report=out.json", "-p", "no:randomly")
    first = team.runpytest_subprocess(*args, "-n", "2")
    # the memorized answers pass; the rephrasings (6) and the untuned model's 12 answers fail
    first.assert_outcomes(passed=6, failed=6 + 12)
    again = team.runpytest_subprocess(*args)
    again.assert_outcomes(passed=6, failed=18)
    jobs = (team.path / "service" / "jobs.log").read_text().split()
    assert len(jobs) == 1  # two xdist workers and a rerun: one tuning job
    report = json.loads((team.path / "out.json").read_text())
    assert {c["target"]: None for c in report["cells"]}.keys() == {"inhouse:town-model", "inhouse:town-model@base"}
    assert [(c["split"], c["correct"], c["n"]) for c in report["cells"] if c["target"] == "inhouse:town-model"] == [
        ("memorization", 6, 6), ("rephrased", 0, 6)]
