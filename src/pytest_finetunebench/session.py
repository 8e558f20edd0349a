"""One benchmark session: set up once at configure, checked once before anything is tuned.

:meth:`BenchSession.start` reads the ``--ftb-*`` options, finds the case roots, opens the job store,
makes the providers' context (with a team's providers, matchers and recipes), the cassette
recorder, the results gatherer (on the controller) and the evaluation. :meth:`BenchSession.preflight`
says every usage error (an unknown split or model, a recipe a provider cannot apply, a training
text that answers a question) in one line before the first training. :mod:`.plugin` only calls them
from pytest's hooks.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from . import extensions, providers, record, settings, suites, usercode
from .cases.schema import MATCHERS
from .grading.judge import GRADERS, Judge, judge_context
from .items import LIKELIHOOD, QA, Target, scoring_of, split_training
from .providers import RunContext
from .providers.base import ProviderError
from .reporting.results import Results
from .run import elsewhere, leakage, recipes
from .run.answer import EVALUATION, Evaluation
from .run.collect import Catalog, Selection, VariantItem
from .run.tune import settings_from, untuned_answerer
from .store.jobstore import JobStore

DEFAULT_MODEL = "local:smollm2-135m"
DEFAULT_CASES = "cases"
DEFAULT_STORE = ".ftb"


@dataclass(frozen=True)
class Collection:
    """Where case files are, which of their items to make, and what was found."""

    selection: Selection
    roots: tuple[Path, ...]
    catalog: Catalog = field(default_factory=Catalog)
    matchers: tuple[str, ...] = MATCHERS  # the names a case file may use: built-in and added by hooks


@dataclass(frozen=True)
class BenchSession:
    """What a pytest session of the benchmark holds: its collection, the providers' context, the evaluation."""

    collection: Collection
    ctx: RunContext
    evaluation: Evaluation

    @classmethod
    def start(cls, config: pytest.Config) -> BenchSession:
        """Set the session up from the options (a usage error is one line, before anything runs)."""
        opts = settings.values(config)
        extensions.check_names(config.pluginmanager)
        flag_cases = [str(config.invocation_params.dir / p) for p in config.getoption("ftb_cases")]
        try:
            shipped = [str(suites.suite_dir(name)) for name in opts["suite"]]
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        if (flag_cases or shipped) and config.args_source != pytest.Config.ArgsSource.ARGS:
            config.args = (
                flag_cases + shipped
            )  # `pytest --ftb-cases=DIR` / `--ftb-suite=NAME` run those cases, not testpaths
        elif shipped:
            config.args += shipped
        roots = [Path(p) for p in flag_cases] or [config.rootpath / p for p in (opts["cases"] or [DEFAULT_CASES])]
        explicit = [Path(a.split("::")[0]).resolve() for a in config.args]
        # a YAML file, or a folder below the rootdir, named on the command line holds cases too
        named = [p for p in explicit if p.suffix in (".yaml", ".yml") or (p.is_dir() and config.rootpath in p.parents)]
        case_roots = [r.resolve() for r in roots] + [Path(p) for p in shipped] + named
        worker = getattr(config, "workerinput", None)
        store = JobStore(Path(opts["store"]) if opts["store"] else config.rootpath / DEFAULT_STORE)
        ctx = RunContext(
            store=store, options=opts, progress=lambda line: _progress(config, line), extra=extensions.providers(config)
        )
        matchers = extensions.matchers(config)
        try:
            recipes.use(extensions.recipes(config))
        except recipes.RecipeError as exc:
            raise pytest.UsageError(str(exc)) from None
        selection = _retention_bases(Selection.from_options(opts, DEFAULT_MODEL), ctx)
        collection = Collection(selection, tuple(case_roots), matchers=(*MATCHERS, *matchers))
        for root in case_roots:  # a link back to a case folder is not collected again
            collection.catalog.reached_before(root)
        recorder = record.Recorder.from_options(opts, config.rootpath, store, worker, (*ctx.extra, *providers.REGISTRY))
        ctx.recording = recorder.recording
        ctx.replay_store = recorder.replay_store
        config.pluginmanager.register(recorder, "finetunebench-cassettes")
        if worker is None:  # under xdist the controller reports and gates, workers answer
            run_id = None
            if getattr(config.option, "numprocesses", None):  # pytest-xdist: name the run the workers share
                config.option.testrunuid = run_id = config.option.testrunuid or uuid.uuid4().hex
            order = [t.label for t in (*selection.targets, *selection.retention_base)]

            def served_by(model: str) -> tuple[str, str | None]:
                spec = providers.spec_for(model, ctx)
                return spec.name, spec.system_message()

            config.pluginmanager.register(
                Results(config, opts, ctx.store, served_by, run_id, order), "finetunebench-results"
            )
        try:  # --ftb-tuned-elsewhere: answer-only targets, checked before anything is asked
            elsewhere.check(
                list(dict.fromkeys(t.model for t in selection.targets)), opts, lambda m: providers.spec_for(m, ctx).name
            )
        except ProviderError as exc:
            raise pytest.UsageError(str(exc)) from None
        for target in collection.selection.targets:
            try:
                spec = providers.spec_for(target.model, ctx)
            except ProviderError as exc:
                raise pytest.UsageError(str(exc)) from None
            if scoring_of(target.stage)[1] == LIKELIHOOD and not spec.scores:
                raise pytest.UsageError(
                    f"--ftb-scoring=likelihood: the {spec.name} provider cannot score {target.model} by likelihood "
                    "(it gives this plugin no token log-probabilities); fix: --ftb-scoring=generate for it, or a "
                    "local: model"
                )
        evaluation = Evaluation(
            ctx, settings_from(opts), worker["testrunuid"] if worker else None, *_judge(opts, ctx), matchers=matchers
        )
        config.stash[EVALUATION] = evaluation
        return cls(collection, ctx, evaluation)

    def preflight(self, session: pytest.Session) -> None:
        """After collection, before any tuning: every usage error now, then one progress line."""
        collection = self.collection
        worker = hasattr(session.config, "workerinput")  # under xdist a worker cannot stop the session cleanly
        catalog, results = collection.catalog, session.config.pluginmanager.get_plugin("finetunebench-results")
        problems = catalog.unknown(collection.selection)
        if results is not None and catalog.complete:  # a gate's typo: said before any tuning
            problems += results.unknown_scopes(catalog.splits)
        if problems and not worker:
            raise pytest.UsageError("; ".join(problems))
        items = [i for i in session.items if isinstance(i, VariantItem)]
        evaluation = self.evaluation
        evaluation.plan(items)
        if not worker and not session.config.option.collectonly:  # a missing extra or folder: say so before any run
            for model in evaluation.models:
                try:
                    provider = evaluation.tuner.provider(model)
                    base, recipe = recipes.split(split_training(model)[0])
                    if recipe.name != QA and not evaluation.tuner.spec(model).trains:
                        raise pytest.UsageError(
                            f"--ftb-recipe={recipe.name}: the {provider.name} provider trains nothing"
                            f" ({base}), so a recipe cannot apply; fix: --ftb-recipe=qa for it"
                        )
                    request = evaluation.request(model)  # a recipe the cases cannot feed: one line now, not per item
                except (ProviderError, recipes.RecipeError) as exc:
                    raise pytest.UsageError(str(exc)) from None
                except pytest.UsageError:
                    raise
                except Exception as exc:  # a team's provider factory raised
                    raise pytest.UsageError(f"{model}: making its provider raised {usercode.describe(exc)}") from None
                asked = dict.fromkeys(
                    leakage.Asked(
                        _relative(i.dataset.path, session.config.rootpath),
                        i.variant.line,
                        i.variant.split,
                        i.variant.question,
                        i.variant.answer,
                    )
                    for i in items
                )
                if leaks := leakage.conflicts(request.pairs, recipe.extra(), asked, recipe.name):  # before any training
                    raise pytest.UsageError("\n".join(map(str, leaks)))
        if items and not worker:
            _progress(
                session.config, f"{len(items)} items for {', '.join(evaluation.models)}; each model is tuned once"
            )


def _retention_bases(selection: Selection, ctx: RunContext) -> Selection:
    """Keep the untuned stages the retention split needs where the provider has them (the report
    says where retention could not be measured)."""

    def untuned(target: Target) -> bool:
        if elsewhere.declared(ctx.options) and not ctx.options.get("base_model"):
            return False  # tuned elsewhere, its untuned model not declared
        try:
            return providers.spec_for(target.model, ctx).untuned
        except ProviderError:  # an unknown model: its usage error comes with the targets'
            return False

    return replace(selection, retention_base=tuple(t for t in selection.retention_base if untuned(t)))


def _judge(opts: Mapping[str, Any], ctx: RunContext) -> tuple[Judge | None, str]:
    """The model judge and whose verdict counts, from --ftb-judge / --ftb-grader (usage errors first)."""
    grader = opts["grader"] or "rules"
    if grader not in GRADERS:
        raise pytest.UsageError(f"--ftb-grader={grader}: use one of {', '.join(GRADERS)}")
    if grader == "judge" and not opts["judge"]:
        raise pytest.UsageError("--ftb-grader=judge needs a judge; fix: add --ftb-judge=MODEL")
    if not opts["judge"]:
        return None, grader
    try:
        providers.spec_for(opts["judge"], judge_context(ctx))
    except ProviderError as exc:
        raise pytest.UsageError(f"--ftb-judge: {exc}") from None
    # published answers (--ftb-responses) are the judged model's: the judge's context has none
    judged = judge_context(ctx)
    return Judge(opts["judge"], judged, untuned_answerer(opts["judge"], judged, settings_from(opts))), grader


def _progress(config: pytest.Config, line: str) -> None:
    """A progress line on the terminal, even while output is captured."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    capman = config.pluginmanager.get_plugin("capturemanager")
    with capman.global_and_fixture_disabled() if capman else nullcontext():
        reporter.write_line(f"[finetunebench] {line}")


def _relative(path: Path, root: Path) -> Path:
    """``path`` under ``root`` as relative, as pytest shows it; elsewhere as it is."""
    return path.relative_to(root) if path.is_relative_to(root) else path


NO_CASES = (
    "finetunebench: no case files were collected (it looks in {where}); get cases: pytest --ftb-suite=default (the "
    "shipped suite),"
    " `ftb init` (a starter cases/ and the pytest settings), `ftb generate` or `ftb import-upstream`"
)
