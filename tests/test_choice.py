"""Likelihood choices: the likeliest reply is the answer, and a margin inside the noise is a tie."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_finetunebench.cases.casefile import load_dataset
from pytest_finetunebench.grading.outcome import WrongAnswer, describe, judge
from pytest_finetunebench.items import Target
from pytest_finetunebench.providers.base import Answer
from pytest_finetunebench.run.answer import TIE_NATS, pick


def test_the_likeliest_choice_is_the_answer() -> None:
    assert pick(["Yes", "No"], [-0.2, -1.9]) == Answer("Yes")
    assert pick(["None", "41"], [-3.0, -3.0 + 2 * TIE_NATS]) == Answer("41")


def test_a_margin_inside_the_noise_is_a_tie_never_a_pick() -> None:
    assert pick(["Yes", "No"], [-0.693150, -0.693400]) == Answer(
        None, tie="Yes -0.69315 vs No -0.69340 nats (closer than 0.001: no choice)"
    )
    # the runner-up is named even when it comes first in the list of choices
    assert (
        pick(["None", "41", "42"], [-5.0, -1.0, -1.0005]).tie
        == "41 -1.00000 vs 42 -1.00050 nats (closer than 0.001: no choice)"
    )


@dataclass
class _Item:
    dataset: Any
    case: Any
    variant: Any
    target: Target
    nodeid: str = "cases/people.yaml::age"
    user_properties: list[tuple[str, Any]] = field(default_factory=list)


def test_a_tie_is_graded_wrong_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "people.yaml").write_text(
        "dataset: people\ncases:\n  - id: age\n    question: How old is Torvik Ampledane?\n    answer: '41'\n"
        "    variants:\n      - split: secondary\n        question: Answer Yes or No. Is Torvik Ampledane over 40?\n"
        "        answer: 'Yes'\n"
    )
    dataset = load_dataset(tmp_path / "people.yaml")
    case = dataset.cases[0]
    item = _Item(dataset, case, case.variants[1], Target("local:m", "likelihood"))
    with pytest.raises(WrongAnswer) as info:
        judge(item, pick(["Yes", "No"], [-0.5, -0.5004]), precision="fp32")
    assert describe(info) == "\n".join(
        (
            "wrong answer from local:m@likelihood on people/age [secondary]",
            "  question: Answer Yes or No. Is Torvik Ampledane over 40?",
            "  expected: Yes",
            "  got:      None",
            "  matcher:  yes_no: tie: Yes -0.50000 vs No -0.50040 nats (closer than 0.001: no choice)",
        )
    )
    props = dict(item.user_properties)
    assert (props["ftb_passed"], props["ftb_in_form"], props["ftb_precision"]) == (False, False, "fp32")
