"""Tables as text: aligned plain text for the terminal and GitHub-flavoured Markdown.

:class:`SummaryText` is mixed into :class:`~.report.Summary`: it lays out the tables the summary
computes (per split, leaderboard, before -> after, recipes, judge, retention, paired), in order.
"""

from __future__ import annotations

from typing import Any

from ..items import BASE, IN_CONTEXT, scoring_of
from . import paired, retention

RECIPE_TITLE = (
    "recipes (--ftb-recipe): the same model tuned on training sets built differently; intervals clustered by case"
)
JUDGE_TITLE = (
    "model judge (--ftb-judge): accuracy by the rule grader and by the judge on the same answers, and how "
    "often they agree"
)
ONE_TRAINING_NOTE = (
    "note: one training per tuned model: intervals cover the questions, not training variance"
    " (--ftb-seeds=K trains each K times and includes it)"
)
SEEDS_NOTE = (
    "note: {k} trainings per tuned model (seeds {first}..{last}): accuracy is their mean, intervals include"
    " training variance (cases x seeds, Student's t)"
)
BEFORE_AFTER_TITLE = (
    "before -> after: base = untuned, tuned = after fine-tuning, in-context = untuned with the "
    "facts in the prompt (the upper bound)"
)


def precision_note(trained: dict[str, str], generated: dict[str, str]) -> str:
    """What each local model trained in and generated its answers in, for a header line."""
    return "; ".join(
        f"{model}: trained in {p}" + (f", answers generated in {generated[model]}" if model in generated else "")
        for model, p in trained.items()
    )


def elsewhere_note(tuned_elsewhere: dict[str, Any] | None) -> str:
    """The header line of an answer-only run (``--ftb-tuned-elsewhere``): not tuned here, trained on what."""
    if not tuned_elsewhere:
        return ""
    base = tuned_elsewhere.get("base_model")
    return (
        f"not tuned by this run (--ftb-tuned-elsewhere): {', '.join(tuned_elsewhere.get('models') or [])}; trained on"
        f" (as declared): {tuned_elsewhere.get('trained_on')}; untuned model: {base or 'not declared'}"
    )


def system_note(messages: dict[str, str | None]) -> str:
    """Which system message each model was asked with (``none``: the user turn alone), for a header line."""
    groups: dict[str | None, list[str]] = {}
    for model, message in messages.items():
        groups.setdefault(message, []).append(model)
    return "; ".join(
        f"{repr(message) if message else 'none'} ({', '.join(models)})" for message, models in groups.items()
    )


class SummaryText:
    """The summary's tables as terminal lines and as Markdown (the summary computes them)."""

    records: list[Any]
    skipped: int

    def variance_note(self) -> list[str]:
        """One line under each table with intervals: whether they include training variance."""
        seeds = sorted({r.seed for r in self.records if r.seed is not None})
        if len(seeds) > 1:
            return [SEEDS_NOTE.format(k=len(seeds), first=seeds[0], last=seeds[-1])]
        trained = any(scoring_of(r.stage)[0] not in (BASE, IN_CONTEXT) for r in self.records)
        return [ONE_TRAINING_NOTE] if trained else []

    def terminal_lines(self) -> list[str]:
        """The tables as aligned plain text."""
        note = self.variance_note()
        lines = aligned(self.table()) + note + [""] + aligned(self.leaderboard_table()) + note
        before_after = self.before_after_table()
        if before_after:
            lines += ["", BEFORE_AFTER_TITLE, *aligned(before_after)]
        lines += self.measurability_notes()
        by_recipe = self.recipe_table()
        if by_recipe:
            lines += ["", RECIPE_TITLE, *aligned(by_recipe), *note]
        judged = self.judge_table()
        if judged:
            lines += ["", JUDGE_TITLE, *aligned(judged)]
        kept = retention.table(self.records)
        if kept:
            lines += ["", retention.TITLE, *aligned(kept), *retention.notes(self.records), *note]
        compared = paired.table(self.comparisons(), pooled_only=True)
        if compared:
            lines += [
                "",
                paired.TITLE + " (pooled; every split in --ftb-markdown, --ftb-html, --ftb-report)",
                *aligned(compared),
                *note,
            ]
        if self.skipped:
            lines.append(f"{self.skipped} item(s) skipped (no answer to grade; see -rs)")
        return lines

    def markdown(self) -> str:
        """The tables in GitHub-flavoured Markdown."""
        note = [f"\n> {n}" for n in self.variance_note()]
        parts = [
            "## FineTuneBench accuracy",
            "",
            *markdown_rows(self.table()),
            *note,
            "",
            "### Leaderboard",
            "",
            *markdown_rows(self.leaderboard_table()),
            *note,
        ]
        before_after = self.before_after_table()
        if before_after:
            parts += ["", "### Before -> after", "", BEFORE_AFTER_TITLE, "", *markdown_rows(before_after)]
        notes = self.measurability_notes()
        if notes:
            parts += ["", *(f"> {n}" for n in notes)]
        by_recipe = self.recipe_table()
        if by_recipe:
            parts += ["", "### Recipes", "", RECIPE_TITLE, "", *markdown_rows(by_recipe), *note]
        judged = self.judge_table()
        if judged:
            parts += ["", "### Model judge", "", JUDGE_TITLE, "", *markdown_rows(judged)]
        kept = retention.table(self.records)
        if kept:
            parts += [
                "",
                "### Retention",
                "",
                retention.TITLE,
                "",
                *markdown_rows(kept),
                *(f"> {n}" for n in retention.notes(self.records)),
                *note,
            ]
        compared = paired.table(self.comparisons())
        if compared:
            parts += ["", "### Paired comparisons", "", paired.TITLE, "", *markdown_rows(compared), *note]
        if shown := precision_note(self.precisions(), self.generated_in()):
            parts += ["", f"Precision (local models; likelihood scores are fp32): {shown}"]
        return "\n".join(parts) + "\n"


def aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]


def markdown_rows(rows: list[list[str]]) -> list[str]:
    head, *body = rows
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in body)]
