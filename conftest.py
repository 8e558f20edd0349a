"""This repository's use of the plugin's own extension hook: the ``memorizer:`` provider.

``pytest --ftb-model=memorizer:lookup`` runs the whole benchmark (collection, answering, grading,
the reports, the gate, saved runs) in about a second with no model at all: the provider "tunes" by
storing the training pairs and answers exactly the questions it stored, "I do not know" to any
other. It is the lookup-table reference every fine-tune is measured against: memorization 1.0,
and on the splits that ask anything not trained on, 0. Developers use it to check a change to the
reports or the gate in a second; ``tests/test_extending.py`` runs this very file as a team's
``conftest.py`` would (under pytest-xdist and again: tuned once).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_finetunebench import BASE, Answer, Endpoint, ProviderSpec

UNKNOWN = "I do not know"


class Memorizer:
    """Tunes by storing the pairs in the job store; answers what it stored, word for word."""

    name = "memorizer"

    def __init__(self, ctx) -> None:
        self.ctx = ctx

    def endpoints(self, request, stages):
        folder = self.ctx.store.dir("memorizer")
        path = folder / f"{request.key()}.json"
        path.write_text(json.dumps({p.prompt: p.answer for p in request.pairs}), encoding="utf-8")
        with open(folder / "jobs.log", "a", encoding="utf-8") as log:  # every tuning it ran
            log.write(path.name + "\n")
        return {stage: Endpoint(request.model, stage, None if stage == BASE else str(path)) for stage in stages}

    def answer(self, endpoint, prompts):
        known = json.loads(Path(endpoint.handle).read_text(encoding="utf-8")) if endpoint.handle else {}
        return [Answer(known.get(p.text, UNKNOWN)) for p in prompts]


@pytest.hookimpl(optionalhook=True)
def pytest_ftb_providers(config):
    return [
        ProviderSpec(
            "memorizer",
            lambda name, ctx: name.startswith("memorizer:"),
            Memorizer,
            ("memorizer:<any name>",),
            http=False,
        )
    ]
