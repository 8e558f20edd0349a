"""Collection: case files become one test item per model stage x case x variant."""

from __future__ import annotations

import functools
import os
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ..cases.casefile import Case, Dataset, Variant, load_dataset
from ..cases.schema import RETENTION, CaseFileError
from ..grading.outcome import UserCodeError, describe, describe_error, failed, judge
from ..items import BASE, IN_CONTEXT, LIKELIHOOD, QA, SCORINGS, TUNED, Target, epoch_stage, likelihood_stage
from ..settings import setting
from ..usercode import in_plugin
from . import recipes
from .answer import EVALUATION
from .tune import parse_epochs

CASE_SUFFIXES = (".yaml", ".yml")
TARGET_PROPERTY = "ftb_target"  # (model, stage) on every item's report, graded or not
CASE_FILE_PROPERTY = "ftb_case_file"  # (dataset, case file) likewise: saved runs hash the file


@dataclass(frozen=True)
class Selection:
    """Which targets to evaluate and which variants to keep, from the ``--ftb-*`` options."""

    targets: tuple[Target, ...]
    splits: frozenset[str] = frozenset()
    datasets: frozenset[str] = frozenset()
    limit: int | None = None
    # the untuned stages the retention split needs beside the targets (retention counts what the
    # untuned model knew): each model's base, unless --ftb-baseline already asks every split of it
    retention_base: tuple[Target, ...] = ()

    def targets_for(self, variant: Variant) -> tuple[Target, ...]:
        """The targets that answer ``variant``: all of them, plus the untuned bases for retention."""
        return self.targets + self.retention_base if variant.split == RETENTION else self.targets

    @classmethod
    def from_options(cls, opts: Mapping[str, Any], default_model: str) -> Selection:
        """Build the selection; several ``--ftb-epochs`` values turn the tuned stage into a sweep."""
        models = list(dict.fromkeys(opts["model"] or [default_model]))
        epochs = parse_epochs(opts.get("epochs"))
        stages = [epoch_stage(n) for n in epochs] if len(epochs) > 1 else [TUNED]
        if opts.get("baseline"):
            stages.insert(0, BASE)
        if opts.get("in_context"):
            stages.insert(0, IN_CONTEXT)
        scorings = list(dict.fromkeys(opts.get("scoring") or ["generate"]))
        if unknown := [x for x in scorings if x not in SCORINGS]:
            raise pytest.UsageError(f"--ftb-scoring={','.join(unknown)}: use generate, likelihood or both")
        stages = ([s for s in stages] if "generate" in scorings else []) + (
            [likelihood_stage(s) for s in stages] if LIKELIHOOD in scorings else []
        )
        limit = opts.get("limit")
        if limit is not None and limit < 1:
            raise pytest.UsageError(f"--ftb-limit={limit}: keep at least one case per dataset (1 or more)")
        try:
            chosen = [recipes.parse(r) for r in dict.fromkeys(opts.get("recipe") or [QA])]
        except recipes.RecipeError as exc:
            raise pytest.UsageError(str(exc)) from None
        k, first = int(setting(opts, "seeds")), int(setting(opts, "seed"))
        seeds: list[int | None] = [None] if k == 1 else list(range(first, first + k))
        untuned = (
            BASE,
            IN_CONTEXT,
            likelihood_stage(BASE),
            likelihood_stage(IN_CONTEXT),
        )  # the same whatever the recipe
        return cls(
            targets=tuple(
                target
                for m in models
                for s in stages
                for target in (
                    [Target(m, s)]
                    if s in untuned
                    else [Target(recipes.labelled(m, r), s, seed) for r in chosen for seed in seeds]
                )
            ),
            splits=frozenset(opts.get("split") or ()),
            datasets=frozenset(opts.get("dataset") or ()),
            limit=limit,
            retention_base=tuple(Target(m, BASE) for m in models if BASE not in stages and "generate" in scorings),
        )

    def cases(self, dataset: Dataset) -> Iterator[tuple[Case, list[Variant]]]:
        """The dataset's cases with their selected variants, honouring the split filter and limit."""
        if self.datasets and dataset.name not in self.datasets:
            return
        kept = 0
        for case in dataset.cases:
            if self.limit is not None and kept >= self.limit:
                return
            variants = [v for v in case.variants if not self.splits or v.split in self.splits]
            if variants:
                kept += 1
                yield case, variants


@dataclass
class Catalog:
    """What collection found: each dataset name with its file, and every split name."""

    datasets: dict[str, Path] = field(default_factory=dict)
    splits: set[str] = field(default_factory=set)
    invalid: bool = False  # a case file failed validation (its name and splits are unknown)
    visited: dict[Path, Path] = field(default_factory=dict)  # resolved path -> the path it was first reached by

    def reached_before(self, path: Path) -> bool:
        """Whether ``path`` is a file or folder already collected under another path (a symlink loop, a link)."""
        return self.visited.setdefault(path.resolve(), path) != path

    @property
    def complete(self) -> bool:
        """Whether the names collected are all there are: some dataset, and no invalid case file (its
        names are unknown, and its own error says what to fix first)."""
        return bool(self.datasets) and not self.invalid

    def unknown(self, selection: Selection) -> list[str]:
        """One line per ``--ftb-dataset`` / ``--ftb-split`` value that names nothing collected
        (nothing unless :attr:`complete`)."""
        if not self.complete:
            return []
        problems = []
        for flag, wanted, known in (
            ("dataset", selection.datasets, set(self.datasets)),
            ("split", selection.splits, self.splits),
        ):
            for name in sorted(wanted - known):
                problems.append(
                    f"--ftb-{flag}={name} names no {flag} here; known: {', '.join(sorted(known)) or 'none'}"
                )
        return problems


def one_line(config: pytest.Config, path: str, lineno: int, message: str) -> OneLine:
    """The one-line failure of an invalid case file, its path as the user would type it."""
    here = config.invocation_params.dir
    shown = os.path.relpath(path, here) if Path(path).is_relative_to(here) else path
    return OneLine(shown, lineno, message, config.option.tbstyle == "line")


def is_case_file(path: Path, roots: Iterable[Path]) -> bool:
    """Whether ``path`` is a YAML file under one of the case locations."""
    if path.suffix not in CASE_SUFFIXES:
        return False
    return any(path == root or root in path.parents for root in roots)


class CaseDir(pytest.Dir):
    """A folder of case files: an entry named like a case file that is no regular file (a dangling
    symlink, a symlink loop, a folder) is collected as a case file, so it fails in one line instead
    of being left out without a word."""

    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        with os.scandir(self.path) as entries:
            odd = sorted(Path(e.path) for e in entries if e.name.endswith(CASE_SUFFIXES) and not _regular(e))
        for node in super().collect():
            if node.path not in odd:
                yield node
        for path in odd:
            yield from self.ihook.pytest_collect_file(file_path=path, parent=self)


def _regular(entry: os.DirEntry[str]) -> bool:
    """Whether a folder entry is a regular file (or a symlink to one); a symlink loop is not."""
    try:
        return entry.is_file()
    except OSError:
        return False


class CaseFile(pytest.File):
    """One YAML case file; a broken file is one collection error, the rest still run."""

    def __init__(self, *, selection: Selection, catalog: Catalog, matchers: Collection[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.selection, self.catalog, self.matchers = selection, catalog, matchers

    def collect(self) -> Iterator[pytest.Item | CaseNode]:
        try:
            dataset = load_dataset(self.path, self.matchers)
            other = self.catalog.datasets.setdefault(dataset.name, self.path)
            if other.resolve() != self.path.resolve():
                raise CaseFileError(
                    self.path,
                    1,
                    f"dataset `{dataset.name}` is also the name of {other}; "
                    "fix: give each case file its own `dataset:` name",
                )
        except CaseFileError as exc:  # one error for this file; the other files still run
            self.catalog.invalid = True
            yield InvalidCaseFile.from_parent(self, name="invalid-case-file", error=exc)
            return
        self.catalog.splits.update(v.split for c in dataset.cases for v in c.variants)
        for split in dataset.splits:
            self.config.addinivalue_line("markers", f"{split}: FineTuneBench split {split}")
        for case, variants in self.selection.cases(dataset):
            yield CaseNode.from_parent(self, name=case.id, dataset=dataset, case=case, variants=variants)


class OneLine:
    """A failure shown as exactly one line ``path:line: message`` at every ``--tb`` style.

    It is its own ``reprcrash`` (what ``--tb=line``, the short summary and JUnit XML's message
    read, with the ``path``, ``lineno`` and ``message`` pytest looks for there). Under
    ``--tb=line`` pytest prints that crash line itself, so the body stays empty.
    """

    def __init__(self, path: str, lineno: int, message: str, line_style: bool) -> None:
        self.path, self.lineno, self.message, self.line_style = path, lineno, message, line_style
        self.reprcrash = self

    def toterminal(self, tw: Any) -> None:
        if not self.line_style:
            tw.line(str(self))

    def __str__(self) -> str:
        return f"{self.path}:{self.lineno}: {self.message}"


class InvalidCaseFile(pytest.Item):
    """Stands for a case file that failed validation: fails with the one-line reason, no traceback."""

    def __init__(self, *, error: CaseFileError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        raise self.error

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> OneLine:
        return one_line(self.config, str(self.error.path), self.error.line, self.error.message)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.error.line - 1, "invalid case file"


class CaseNode(pytest.Collector):
    """One case: its variants for every target."""

    def __init__(self, *, dataset: Dataset, case: Case, variants: list[Variant], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset, self.case, self.variants = dataset, case, variants

    def collect(self) -> Iterator[VariantItem]:
        splits = [v.split for v in self.case.variants]
        selection: Selection = self.parent.selection  # type: ignore[union-attr]
        for target in dict.fromkeys(t for v in self.variants for t in selection.targets_for(v)):
            for variant in (v for v in self.variants if target in selection.targets_for(v)):
                name = variant.split
                if splits.count(variant.split) > 1:  # numbered in file order, whatever the filters keep
                    name += str(splits[: self.case.variants.index(variant) + 1].count(variant.split))
                # pytest >= 9 keeps node ids structured: the target is the item's parameter, as for a
                # parametrized test, so --lf and node-id selection match it
                nodeid = {"nodeid": self.id.child(name).with_params(target.label)} if hasattr(self, "id") else {}
                yield VariantItem.from_parent(
                    self,
                    name=f"{name}[{target.label}]",
                    dataset=self.dataset,
                    case=self.case,
                    variant=variant,
                    target=target,
                    **nodeid,
                )


@functools.cache
def _mark(name: str) -> pytest.MarkDecorator:
    return getattr(pytest.mark, name)


class VariantItem(pytest.Item):
    """Ask one variant of one case of a target; pass when the graded answer matches."""

    def __init__(self, *, dataset: Dataset, case: Case, variant: Variant, target: Target, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset, self.case, self.variant, self.target = dataset, case, variant, target
        self.user_properties.append((TARGET_PROPERTY, [target.model, target.stage]))
        self.user_properties.append((CASE_FILE_PROPERTY, [dataset.name, str(dataset.path)]))
        for mark in (_mark(variant.split), _mark("finetunebench")):  # decorators made once per split
            self.add_marker(mark)
        self.extra_keyword_matches.update((dataset.name, target.model))

    def runtest(self) -> None:
        evaluation = self.config.stash[EVALUATION]
        try:
            answer = evaluation.answer(self)
        except Exception as exc:  # tuning or answering failed: this item's error, still counted
            raise failed(self, describe_error(exc), exc) from exc
        verdict = evaluation.verdict(self)
        judge(self, answer, verdict, evaluation.grader, **evaluation.measured(self), matchers=evaluation.matchers)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        # a team's code failing is one line; -v or --tb=long shows its traceback
        verbose = self.config.option.verbose > 0 or self.config.option.tbstyle == "long"
        cause = excinfo.value.__cause__
        if isinstance(excinfo.value, UserCodeError) and verbose and cause is not None:
            raised = pytest.ExceptionInfo.from_exception(cause)  # its traceback from the team's frames on
            raised.traceback = raised.traceback.filter(lambda e: not in_plugin(e.path)) or raised.traceback
            return super().repr_failure(raised, style)
        return describe(excinfo) or super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return (
            self.path,
            self.variant.line - 1,
            f"{self.dataset.name} {self.case.id} {self.variant.split} [{self.target.label}]",
        )
