"""``ftb export OUT [pytest options]``: the training set, for a trainer outside this plugin.

Writes exactly what the plugin would train on for the selected cases and recipe (``--ftb-suite``,
``--ftb-cases``, ``--ftb-dataset``, ``--ftb-limit``, ``--ftb-recipe``, a team's recipe from its
``conftest.py``: the same collection as a run), as

* ``OUT/train.jsonl``: OpenAI chat JSONL, one ``{"messages": [system, user, assistant]}`` per pair;
* ``OUT/dataset/``: the same rows as a Hugging Face ``datasets`` dataset (the conversational
  ``messages`` format TRL's ``SFTTrainer`` reads; ``datasets.load_from_disk``);
* ``OUT/manifest.json``: the case files' hashes, the recipe, the counts and the training set's
  hash. ``pytest --ftb-tuned-elsewhere=OUT/manifest.json`` checks it, so a model is not evaluated
  on cases other than the ones it was trained for.

The system message is the one every answer is asked with (``Answer briefly.``; ``--no-system-message``
for a model that will be asked without one, as OpenAI's are). No question that is asked to
measure generalization or retention is ever in the training set: an export that would hold one is
refused in one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from . import __version__
from .cases.schema import MEMORIZATION
from .items import BASE, IN_CONTEXT, Asked, scoring_of
from .providers.base import SYSTEM_PROMPT, TrainingPair, chat_messages
from .run import elsewhere, leakage, recipes
from .run.answer import EVALUATION
from .run.collect import InvalidCaseFile, VariantItem


class _Collector:
    """A pytest plugin that keeps, after collection, the items and the training set of the first model."""

    def __init__(self) -> None:
        self.items: list[VariantItem] = []
        self.pairs: tuple[TrainingPair, ...] = ()
        self.recipe = ""
        self.error = ""

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.items = [i for i in items if isinstance(i, VariantItem)]  # before -k: what decides the training set
        broken = [i.error for i in items if isinstance(i, InvalidCaseFile)]
        if broken:  # its cases are unknown, so the training set would be short of them
            self.error = f"{broken[0].path}:{broken[0].line}: {broken[0].message}"

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        evaluation = session.config.stash[EVALUATION]
        untuned = (BASE, IN_CONTEXT)  # the stages asked of the untuned model (the retention split's, --ftb-baseline)
        models = list(dict.fromkeys(i.target.model for i in self.items if scoring_of(i.target.stage)[0] not in untuned))
        if self.error:
            return
        if len(models) != 1:
            self.error = f"export one training set at a time: {len(models)} models or recipes are selected"
            return
        request = evaluation.request(models[0])
        self.items = [i for i in self.items if i.target.model == models[0]]
        self.pairs = request.pairs
        recipe = recipes.split(models[0])[1]
        asked = dict.fromkeys(
            leakage.Asked(i.dataset.path, i.variant.line, i.variant.split, i.variant.question, i.variant.answer)
            for i in self.items
        )
        if leaks := leakage.conflicts(request.pairs, recipe.extra(), asked, recipe.name):  # as a run refuses it
            self.error = str(leaks[0])
        self.recipe = models[0][len(request.model) + 1 :] or "qa"


def rows(pairs: tuple[TrainingPair, ...], system: str | None) -> list[dict[str, Any]]:
    """One conversational row per pair: ``{"messages": [...]}``."""
    return [{"messages": [*chat_messages(p.prompt, system), {"role": "assistant", "content": p.answer}]} for p in pairs]


def held_out_in_training(items: list[Asked], pairs: tuple[TrainingPair, ...]) -> str | None:
    """A line naming the first question asked beyond memorization that is also a training prompt."""
    trained = {p.prompt for p in pairs}
    for item in items:
        if item.variant.split != MEMORIZATION and item.variant.prompt in trained:
            return (
                f"{item.dataset.path}:{item.variant.line}: the {item.variant.split} question of case {item.case.id}"
                " is also a training prompt, so it would measure memorization; fix: reword it or drop it from training"
            )
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ftb export", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write train.jsonl, dataset/ and manifest.json into")
    parser.add_argument("--no-system-message", action="store_true", help="rows without the system message")
    args, pytest_args = parser.parse_known_args(argv)
    collector = _Collector()
    code = pytest.main(
        [
            "--collect-only",
            "-qq",
            "-p",
            "no:randomly",
            "-p",
            "no:xdist",
            "-W",
            "ignore::pytest.PytestAssertRewriteWarning",
        ]
        + pytest_args,
        plugins=[collector],
    )
    if collector.error or not collector.pairs:
        print(f"ftb export: {collector.error or 'the selected cases have no training pairs'}", file=sys.stderr)
        return 2 if code == 0 else int(code)
    if line := held_out_in_training(collector.items, collector.pairs):
        print(f"ftb export: {line}", file=sys.stderr)
        return 2
    system = None if args.no_system_message else SYSTEM_PROMPT
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    data = rows(collector.pairs, system)
    (out / "train.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in data), "utf-8")
    try:
        import datasets
    except ImportError:
        print("ftb export: `datasets` is not installed: wrote train.jsonl only (fix: pip install datasets)")
    else:
        datasets.Dataset.from_list(data).save_to_disk(str(out / "dataset"))
    manifest = elsewhere.manifest(collector.items, collector.pairs, collector.recipe, system)
    manifest |= {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "plugin_version": __version__}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(
        f"ftb export: {len(data)} training rows of {manifest['counts']['cases']} cases ({manifest['recipe']} recipe) in"
        f" {out}; evaluate the tuned model with --ftb-tuned-elsewhere={out / 'manifest.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
