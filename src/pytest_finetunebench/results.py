"""The session's results: every graded item, the gate and regression verdicts, and the files
written at the end (JSON report, Markdown and job summary, saved run, plots)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from . import gate, providers, runs
from .outcome import Record
from .providers import RunContext
from .report import Summary
from .store import atomic_write


class Results:
    """A plugin object on the controller: gathers every item's record, then gates and writes outputs."""

    def __init__(self, config: pytest.Config, opts: dict[str, Any], case_roots: list[Path], ctx: RunContext) -> None:
        self.config, self.opts, self.case_roots, self.ctx = config, opts, case_roots, ctx
        self.thresholds = gate.parse_thresholds(opts["fail_under"])
        self.drop_limits = gate.parse_thresholds(opts["compare_fail"], "--ftb-compare-fail")
        self.summary = Summary()
        self.run_errors = 0
        self.gate_failures: list[str] | None = None
        self.reference: runs.SavedRun | None = None  # the run --ftb-compare(-fail) compares with
        self.comparison: runs.Comparison | None = None
        self.compare_failures: list[str] | None = None
        self.saved: Path | None = None
        self.plots: list[Path] = []
        self.notes: list[str] = []
        # before anything runs: find the run to compare with, check plotting works
        self.history = runs.History(ctx.store)
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
        if not self.opts["no_save"]:
            self.saved = self.history.save(run)
        if self.opts["plot"]:
            from . import plot

            self.plots = plot.write(self.summary, Path(self.opts["plot"]))

    def _providers(self) -> dict[str, str]:
        return {m: providers.spec_for(m, self.ctx).name for m in dict.fromkeys(r.model for r in self.summary.records)}

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
        self._verdict(tr, "gate", f"--ftb-fail-under={self.opts['fail_under']}", self.gate_failures)
        self._terminal_runs(tr)

    def _verdict(self, tr: Any, name: str, flag: str, failures: list[str] | None) -> None:
        """``gate passed (--ftb-fail-under=...)`` or FAILED with one line per miss."""
        if failures is None:
            return
        tr.write_sep("-", f"{name} {'FAILED' if failures else 'passed'} ({flag})")
        for line in failures:
            tr.write_line(f"  {line}")
        if self.run_errors:
            tr.write_line(f"  {self.run_errors} item(s) failed with run errors: the exit status stays failed")

    def _terminal_runs(self, tr: Any) -> None:
        """The comparison, the regression gate, where the run was saved and plotted."""
        if self.comparison is not None:
            tr.write_sep("-", f"compared with {self.comparison.reference.label}: accuracy then -> now")
            for line in self.comparison.terminal_lines():
                tr.write_line(line)
        elif self.opts["compare"] or self.drop_limits:
            tr.write_line("finetunebench: no saved run to compare with yet (this run becomes the first)"
                          + ("; --ftb-compare-fail not applied" if self.drop_limits else ""))
        self._verdict(tr, "regression gate", f"--ftb-compare-fail={self.opts['compare_fail']}", self.compare_failures)
        if self.saved is not None:
            saved = runs.relative(self.saved, self.config.invocation_params.dir)
            tr.write_line(f"finetunebench: run saved as {saved} (--ftb-compare to compare the next run with it)")
        for path in self.plots:
            tr.write_line(f"finetunebench: plot written to {path}")
        for note in self.notes:
            tr.write_line(f"finetunebench: {note}")
