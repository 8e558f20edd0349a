"""The session's results: every graded item, the gate and regression verdicts, and the files
written at the end (JSON report, Markdown and job summary, saved run, plots)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from ..grading.outcome import Record
from ..run.collect import CASE_FILE_PROPERTY, TARGET_PROPERTY, OneLine
from ..store.jobstore import JobStore, atomic_write
from . import gate, runs
from .report import Summary
from .text import elsewhere_note, system_note

# what --ftb-report holds of a saved run's header, before the items and the tables: not its time, so
# that a replayed run's report is the recorded one's byte for byte
REPORT_HEADER = (
    "plugin_version",
    "python",
    "pytest",
    "git",
    "models",
    "providers",
    "datasets",
    "hyperparameters",
    "options",
    "gate",
)


# who served a model: its provider's name and the system message its prompts were sent with (None: the
# user turn alone); the plugin looks it up in the provider registry, so the reports need no provider module
ServedBy = Callable[[str], tuple[str, "str | None"]]


def without_header(report: Mapping[str, Any]) -> dict[str, Any]:
    """A ``--ftb-report`` JSON without its run header (what depends on when, where and by whom it ran)."""
    return {k: v for k, v in report.items() if k not in REPORT_HEADER}


class Results:
    """A plugin object on the controller: gathers every item's record, then gates and writes outputs."""

    def __init__(
        self,
        config: pytest.Config,
        opts: Mapping[str, Any],
        store: JobStore,
        served_by: ServedBy,
        run_id: str | None,
        order: Sequence[str] = (),
    ) -> None:
        self.config, self.opts, self.store, self.served_by = config, opts, store, served_by
        self.run_id = run_id  # under pytest-xdist: the workers' shared answers are removed at the end
        self.targets: dict[tuple[str, str], None] = {}  # (model, stage) of every item that reported
        self.case_files: dict[str, Path] = {}  # dataset -> the case file its items came from
        self.thresholds = gate.parse_thresholds(opts["fail_under"])
        self.drop_limits = gate.parse_thresholds(opts["compare_fail"], "--ftb-compare-fail")
        self.summary = Summary(order=order)  # the selection's targets: the tables' row order
        self.run_errors = 0
        self.invalid_case_files: list[str] = []  # one line each, as the terminal shows them
        self.html: Path | None = None  # the page written by --ftb-html
        self.gate_failures: list[str] | None = None
        self.reference: runs.SavedRun | None = None  # the run --ftb-compare(-fail) compares with
        self.comparison: runs.Comparison | None = None
        self.compare_failures: list[str] | None = None
        self.saved: Path | None = None
        self.plots: list[Path] = []
        self.notes: list[str] = []
        # before anything runs: find the run to compare with, check plotting works
        self.history = runs.History(store)
        spec = self.opts["compare"] or (runs.PREVIOUS if self.drop_limits else None)
        if spec:
            self.reference = self.history.resolve(spec, self.config.invocation_params.dir)
        if self.opts["plot"]:
            from . import plot

            plot.require()
        for flag in ("report", "markdown", "html", "plot"):
            if self.opts[flag]:
                _check_writable(flag, Path(self.opts[flag]), is_dir=flag == "plot")

    def unknown_scopes(self, splits: Iterable[str]) -> list[str]:
        """One line per --ftb-fail-under / --ftb-compare-fail scope that names no split collected here."""
        return [
            *gate.unknown_scopes(self.thresholds, splits, "--ftb-fail-under"),
            *gate.unknown_scopes(self.drop_limits, splits, "--ftb-compare-fail"),
        ]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties = dict(report.user_properties)
        if TARGET_PROPERTY in properties:
            self.targets[tuple(properties[TARGET_PROPERTY])] = None
            dataset, path = properties[CASE_FILE_PROPERTY]
            self.case_files[dataset] = Path(path)
        record = Record.from_properties(report.user_properties)
        if report.when == "call" and record is not None:
            self.summary.add(record)
        if report.skipped and report.when in ("setup", "call"):
            self.summary.skipped += 1
        if report.failed and (report.when != "call" or record is None or record.error is not None):
            self.run_errors += 1
        if isinstance(report.longrepr, OneLine):
            self.invalid_case_files.append(str(report.longrepr))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.run_errors += 1

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.run_id:
            self.store.remove("answers", self.run_id)
        # -x, --maxfail, Ctrl-C or an internal error: a partial run is neither gated nor saved
        stopped = bool(session.shouldfail or session.shouldstop) or exitstatus in (
            pytest.ExitCode.INTERRUPTED,
            pytest.ExitCode.INTERNAL_ERROR,
        )
        gated = gate.gated_targets(sorted(self.targets))  # in one order, whatever order the items ran in
        self.invalid_case_files.sort()
        if (self.thresholds or self.drop_limits) and stopped:
            self.notes.append("gates not applied: the run stopped early (-x / --maxfail), so it is not saved either")
        elif self.thresholds and gated:
            self.gate_failures = gate.check(self.summary, self.thresholds, gated)
        run = (
            runs.run_data(
                self.summary,
                self.opts,
                providers=self._providers(),
                case_files=self.case_files,
                rootdir=self.config.rootpath,
            )
            if self.summary.records
            else None
        )
        if run is not None:
            run["system_message"] = self._system_messages()
        if run is not None and self.reference is not None:
            self.comparison = runs.Comparison(self.reference, run)
            run["paired"] = run["paired"] + [p.as_dict() for p in self.comparison.paired()]
            if self.drop_limits and not stopped:
                self.compare_failures = self.comparison.check(self.drop_limits, gated)
        if self.run_errors and exitstatus == pytest.ExitCode.OK:  # e.g. an invalid case file deselected by -k
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        elif self.gate_failures is not None or self.compare_failures is not None:
            if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and not self.run_errors:
                failed = bool(self.gate_failures) or bool(self.compare_failures)
                session.exitstatus = pytest.ExitCode.TESTS_FAILED if failed else pytest.ExitCode.OK
        markdown = self._markdown()
        if run is not None:
            run["invalid_case_files"] = self.invalid_case_files
            run["gate"] = {
                "fail_under": self.opts["fail_under"],
                "failures": self.gate_failures,
                "compare_fail": self.opts["compare_fail"],
                "compare_failures": self.compare_failures,
                "compared_with": str(self.reference.path) if self.reference else None,
            }
            if not self.opts["no_save"] and not stopped:
                self._write("the saved run", lambda: setattr(self, "saved", self.history.save(run)))
            self.notes += runs.append_step_summary(markdown)
        if self.opts["report"]:
            report = {**self.summary.to_json(), "invalid_case_files": self.invalid_case_files}
            if run is not None:  # the saved run's header first: what ran, with what, when
                report = {**{k: run[k] for k in REPORT_HEADER}, **report, "paired": run["paired"]}
            data = json.dumps(report, indent=2, ensure_ascii=False).encode()
            self._write("--ftb-report", lambda: atomic_write(Path(self.opts["report"]), data, public=True))
        if self.opts["markdown"]:
            self._write(
                "--ftb-markdown", lambda: atomic_write(Path(self.opts["markdown"]), markdown.encode(), public=True)
            )
        if self.opts["html"] and run is not None:
            from . import html

            reference = self.reference.data if self.reference is not None else None
            page = lambda: html.render(run, reference).encode()  # noqa: E731
            self._write("--ftb-html", lambda: atomic_write(Path(self.opts["html"]), page(), public=True))
            self.html = Path(self.opts["html"])
        if self.opts["plot"] and self.summary.records:
            from . import plot

            self._write("--ftb-plot", lambda: setattr(self, "plots", plot.write(self.summary, Path(self.opts["plot"]))))

    def _write(self, what: str, write: Callable[[], object]) -> None:
        """Write one output; a failure becomes a one-line note, so the others (and the run) are kept."""
        try:
            write()
        except Exception as exc:  # an output that cannot be written never costs the run's results
            self.notes.append(f"could not write {what}: {type(exc).__name__}: {exc}")

    def _models(self) -> list[str]:
        return list(dict.fromkeys(r.model for r in self.summary.records))

    def _system_messages(self) -> dict[str, str | None]:
        """The system message each model's prompts were sent with (None: the user turn alone)."""
        return {m: self.served_by(m)[1] for m in self._models()}

    def _providers(self) -> dict[str, str]:
        return {m: self.served_by(m)[0] for m in self._models()}

    def _markdown(self) -> str:
        """The tables, the deltas and the verdicts: for --ftb-markdown and $GITHUB_STEP_SUMMARY."""
        parts = [self.summary.markdown()]
        if note := elsewhere_note(runs.tuned_elsewhere(self.opts, self._models())):
            parts += [f"Tuned: {note}", ""]
        if self.summary.records:
            parts += [f"System message: {system_note(self._system_messages())}", ""]
        if self.invalid_case_files:
            parts += ["**Invalid case files** (not run; each fails the run):", ""]
            parts += [f"- `` {line} ``" for line in self.invalid_case_files] + [""]
        if self.comparison is not None:
            parts += self.comparison.markdown_lines() + [""]
        parts += gate.verdict_markdown(
            f"Gate (--ftb-fail-under={self.opts['fail_under']})", self.gate_failures, self.run_errors
        )
        parts += gate.verdict_markdown(
            f"Regression gate (--ftb-compare-fail={self.opts['compare_fail']})", self.compare_failures, self.run_errors
        )
        return "\n".join(parts)

    # pytest-html, when installed (its hooks are optional: nothing happens without it)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: Any
    ) -> None:
        """The accuracy tables above pytest-html's results table."""
        if self.summary.records:
            from .html import summary_tables

            prefix.append(summary_tables(self.summary))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report: pytest.TestReport, data: list[str]) -> None:
        """Each item's question, gold, answer and reason in its row's details."""
        record = Record.from_properties(report.user_properties)
        if record is not None:
            from .html import item_details

            data.append(item_details(record))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        tr = terminalreporter
        if self.summary.records:
            tr.write_sep("=", "finetunebench: accuracy per model x dataset x split")
            for line in self.summary.terminal_lines():
                tr.write_line(line)
            if note := elsewhere_note(runs.tuned_elsewhere(self.opts, self._models())):
                tr.write_line(f"finetunebench: {note}")
        elif not (self.gate_failures or self.notes):
            return
        self._verdict(tr, "gate", f"--ftb-fail-under={self.opts['fail_under']}", self.gate_failures)
        self._terminal_runs(tr)

    def _verdict(self, tr: Any, name: str, flag: str, failures: list[str] | None) -> None:
        """``gate passed (--ftb-fail-under=...)`` or FAILED with one line per miss."""
        if failures is None:
            return
        word, lines = gate.verdict(failures, self.run_errors)
        tr.write_sep("-", f"{name} {word} ({flag})")
        for line in lines:
            tr.write_line(f"  {line}")

    def _terminal_runs(self, tr: Any) -> None:
        """The comparison, the regression gate, where the run was saved and plotted."""
        if self.comparison is not None:
            tr.write_sep("-", f"compared with {self.comparison.reference.label}: accuracy then -> now")
            for line in self.comparison.terminal_lines():
                tr.write_line(line)
        elif self.opts["compare"] or self.drop_limits:
            tr.write_line(
                "finetunebench: no saved run to compare with yet (this run becomes the first)"
                + ("; --ftb-compare-fail not applied" if self.drop_limits else "")
            )
        self._verdict(tr, "regression gate", f"--ftb-compare-fail={self.opts['compare_fail']}", self.compare_failures)
        if self.saved is not None:
            saved = runs.relative(self.saved, self.config.invocation_params.dir)
            tr.write_line(f"finetunebench: run saved as {saved} (--ftb-compare to compare the next run with it)")
        for path in self.plots:
            tr.write_line(f"finetunebench: plot written to {path}")
        for note in self.notes:
            tr.write_line(f"finetunebench: {note}")
        if self.html is not None and self.html.exists():
            tr.write_line(f"finetunebench: HTML report {self.html.resolve().as_uri()}")


def _check_writable(flag: str, path: Path, is_dir: bool) -> None:
    """Refuse, before anything runs, an output path that cannot be written."""
    folder = path if is_dir else path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(
            f"--ftb-{flag}={path}: cannot create {folder} ({exc.strerror}); fix: choose another path"
        ) from None
    if not is_dir and path.is_dir():
        raise pytest.UsageError(f"--ftb-{flag}={path} is a directory; fix: name a file")
