"""pytest hooks: wire collection, tuning, answering, grading, reporting and the gate together.

The hooks only pass things between the modules that do the work (``collect``, ``answer``,
``outcome``, ``report``, ``gate``); the state of a session lives in one :class:`FtbSession`.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest

from . import cassettes, gate, options, runs
from .answer import EVALUATION, Evaluation
from .cases import BUILTIN_SPLITS
from .collect import CaseFile, Selection, VariantItem, is_case_file
from .outcome import Record
from . import providers
from .providers import RunContext
from .providers.base import ProviderError
from .report import Summary
from .store import JobStore, atomic_write
from .tune import settings_from

DEFAULT_MODEL = "local:smollm2-135m"
DEFAULT_CASES = "cases"
DEFAULT_STORE = ".ftb"


class FtbSession:
    """What one pytest session knows about the benchmark; a plugin object for the report hooks."""

    def __init__(self, config: pytest.Config, opts: dict[str, Any], case_roots: list[Path]) -> None:
        self.config, self.opts, self.case_roots = config, opts, case_roots
        self.selection = Selection.from_options(opts, DEFAULT_MODEL)
        self.thresholds = gate.parse_thresholds(opts["fail_under"])
        self.drop_limits = gate.parse_thresholds(opts["compare_fail"], "--ftb-compare-fail")
        self.summary = Summary()
        self.run_errors = 0
        self.gate_failures: list[str] | None = None
        self.history: runs.History | None = None
        self.reference: runs.SavedRun | None = None  # the run --ftb-compare(-fail) compares with
        self.comparison: runs.Comparison | None = None
        self.compare_failures: list[str] | None = None
        self.saved: Path | None = None
        self.plots: list[Path] = []
        self.notes: list[str] = []

    def prepare(self, store: JobStore) -> None:
        """On the controller, before anything runs: find the run to compare with, check plotting works."""
        self.history = runs.History(store)
        spec = self.opts["compare"] or (runs.PREVIOUS if self.drop_limits else None)
        if spec:
            self.reference = self.history.resolve(spec, self.config.invocation_params.dir)
        if self.opts["plot"]:
            from . import plot

            plot.require()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = Record.from_properties(report.user_properties)
        if report.when == "call" and record is not None:
            self.summary.add(record)
        if report.skipped and report.when in ("setup", "call"):
            self.summary.skipped += 1
        if report.failed and (record is None or record.error is not None):
            self.run_errors += 1

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.opts["report"]:
            data = json.dumps(self.summary.to_json(), indent=2, ensure_ascii=False)
            atomic_write(Path(self.opts["report"]), data.encode())
        if not self.summary.records:
            if self.opts["markdown"]:
                atomic_write(Path(self.opts["markdown"]), self.summary.markdown().encode())
            return
        if self.thresholds:
            self.gate_failures = gate.check(self.summary, self.thresholds)
        run = runs.run_data(self.summary, self.opts, providers=self._providers(), case_roots=self.case_roots,
                            rootdir=self.config.rootpath)
        if self.reference is not None:
            self.comparison = runs.Comparison(self.reference, run)
            if self.drop_limits:
                self.compare_failures = self.comparison.check(self.drop_limits, gate.gated_targets(self.summary))
        if self.thresholds or self.drop_limits:
            failed = bool(self.gate_failures) or bool(self.compare_failures)
            if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and not self.run_errors:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED if failed else pytest.ExitCode.OK
        run["gate"] = {"fail_under": self.opts["fail_under"], "failures": self.gate_failures,
                       "compare_fail": self.opts["compare_fail"], "compare_failures": self.compare_failures,
                       "compared_with": str(self.reference.path) if self.reference else None}
        markdown = self._markdown()
        if self.opts["markdown"]:
            atomic_write(Path(self.opts["markdown"]), markdown.encode())
        self.notes = runs.append_step_summary(markdown)
        if self.history is not None and not self.opts["no_save"]:
            self.saved = self.history.save(run)
        if self.opts["plot"]:
            from . import plot

            self.plots = plot.write(self.summary, Path(self.opts["plot"]))

    def _providers(self) -> dict[str, str]:
        ctx = self.config.stash[EVALUATION].ctx
        return {m: providers.spec_for(m, ctx).name for m in dict.fromkeys(r.model for r in self.summary.records)}

    def _markdown(self) -> str:
        """The tables, the deltas and the verdicts: for --ftb-markdown and $GITHUB_STEP_SUMMARY."""
        parts = [self.summary.markdown()]
        if self.comparison is not None:
            parts += self.comparison.markdown_lines() + [""]
        parts += runs.verdict_markdown(f"Gate (--ftb-fail-under={self.opts['fail_under']})", self.gate_failures, self.run_errors)
        parts += runs.verdict_markdown(f"Regression gate (--ftb-compare-fail={self.opts['compare_fail']})",
                                       self.compare_failures, self.run_errors)
        return "\n".join(parts)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.summary.records:
            return
        tr = terminalreporter
        tr.write_sep("=", "finetunebench: accuracy per model x dataset x split")
        for line in self.summary.terminal_lines():
            tr.write_line(line)
        if self.gate_failures is not None:
            verdict = "FAILED" if self.gate_failures else "passed"
            tr.write_sep("-", f"gate {verdict} (--ftb-fail-under={self.opts['fail_under']})")
            for line in self.gate_failures:
                tr.write_line(f"  {line}")
            if self.run_errors:
                tr.write_line(f"  {self.run_errors} item(s) failed with run errors: the exit status stays failed")
        self._terminal_runs(tr)

    def _terminal_runs(self, tr: Any) -> None:
        """The comparison, the regression gate, where the run was saved and plotted."""
        if self.comparison is not None:
            tr.write_sep("-", f"compared with {self.comparison.reference.label}: accuracy then -> now")
            for line in self.comparison.terminal_lines():
                tr.write_line(line)
        elif self.opts["compare"] or self.drop_limits:
            tr.write_line("finetunebench: no saved run to compare with yet (this run becomes the first)"
                          + ("; --ftb-compare-fail not applied" if self.drop_limits else ""))
        if self.compare_failures is not None:
            verdict = "FAILED" if self.compare_failures else "passed"
            tr.write_sep("-", f"regression gate {verdict} (--ftb-compare-fail={self.opts['compare_fail']})")
            for line in self.compare_failures:
                tr.write_line(f"  {line}")
            if self.run_errors:
                tr.write_line(f"  {self.run_errors} item(s) failed with run errors: the exit status stays failed")
        if self.saved is not None:
            saved = runs.relative(self.saved, self.config.invocation_params.dir)
            tr.write_line(f"finetunebench: run saved as {saved} (--ftb-compare to compare the next run with it)")
        for path in self.plots:
            tr.write_line(f"finetunebench: plot written to {path}")
        for note in self.notes:
            tr.write_line(f"finetunebench: {note}")


SESSION = pytest.StashKey[FtbSession]()


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "finetunebench: a FineTuneBench item (one variant for one model)")
    for split in BUILTIN_SPLITS:
        config.addinivalue_line("markers", f"{split}: FineTuneBench split {split}")
    opts = options.values(config)
    flag_cases = [str(config.invocation_params.dir / p) for p in config.getoption("ftb_cases")]
    if flag_cases and config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = flag_cases  # `pytest --ftb-cases=DIR` runs those cases, not testpaths
    roots = [Path(p) for p in flag_cases] or [config.rootpath / p for p in (opts["cases"] or [DEFAULT_CASES])]
    explicit = [Path(a.split("::")[0]).resolve() for a in config.args]
    case_roots = [r.resolve() for r in roots] + [p for p in explicit if p.suffix in (".yaml", ".yml")]
    ftb = FtbSession(config, opts, case_roots)
    config.stash[SESSION] = ftb
    worker = getattr(config, "workerinput", None)
    if worker is None:  # under xdist the controller reports and gates, workers answer
        config.pluginmanager.register(ftb, "finetunebench-session")
    store = JobStore(Path(opts["store"]) if opts["store"] else config.rootpath / DEFAULT_STORE)
    if worker is None:
        ftb.prepare(store)
    ctx = RunContext(store=store, options=opts, progress=lambda line: _progress(config, line))
    recorder = cassettes.Recorder.from_options(opts, config.rootpath, store, worker)  # record/replay HTTP (cassettes.py)
    ctx.recording = recorder.recording
    config.pluginmanager.register(recorder, "finetunebench-cassettes")
    for target in ftb.selection.targets:
        try:
            providers.spec_for(target.model, ctx)
        except ProviderError as exc:
            raise pytest.UsageError(str(exc)) from None
    config.stash[EVALUATION] = Evaluation(ctx, settings_from(opts), worker["testrunuid"] if worker else None)


def _progress(config: pytest.Config, line: str) -> None:
    """A progress line on the terminal, even while output is captured."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    capman = config.pluginmanager.get_plugin("capturemanager")
    with capman.global_and_fixture_disabled() if capman else nullcontext():
        reporter.write_line(f"[finetunebench] {line}")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> CaseFile | None:
    ftb = parent.config.stash[SESSION]
    if is_case_file(file_path, ftb.case_roots):
        return CaseFile.from_parent(parent, path=file_path, selection=ftb.selection)
    return None


def pytest_collection_finish(session: pytest.Session) -> None:
    items = [i for i in session.items if isinstance(i, VariantItem)]
    evaluation = session.config.stash[EVALUATION]
    evaluation.plan(items)
    if items and not hasattr(session.config, "workerinput"):
        _progress(session.config, f"{len(items)} items for {', '.join(evaluation.models)}; each model is tuned once")
