"""pytest hooks, wired into the benchmark's session object (:mod:`.session`): nothing else.

:class:`~.session.BenchSession` is set up at configure and checked after collection; the hooks pass
pytest's objects to the modules that do the work: ``collect`` makes the items, ``answer`` (with
``tune``) gets their answers, ``outcome`` grades each, ``results`` gathers them on the controller
and gates, ``cassettes`` records or replays HTTP.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from . import hooks, options
from .cases.schema import BUILTIN_SPLITS
from .run.collect import CaseDir, CaseFile, InvalidCaseFile, OneLine, VariantItem, is_case_file
from .session import NO_CASES, BenchSession

SESSION = pytest.StashKey[BenchSession]()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "finetunebench: a FineTuneBench item (one variant for one model)")
    for split in BUILTIN_SPLITS:
        config.addinivalue_line("markers", f"{split}: FineTuneBench split {split}")
    config.stash[SESSION] = BenchSession.start(config)


_ONE_LINE = "ftb_one_line"


def pytest_report_to_serializable(config: pytest.Config, report: pytest.TestReport) -> dict | None:
    # pytest-xdist sends reports as JSON: keep an invalid case file's failure one line there too
    if not isinstance(report.longrepr, OneLine):
        return None
    data = report._to_json()
    data[_ONE_LINE] = [report.longrepr.path, report.longrepr.lineno, report.longrepr.message]
    return data


def pytest_report_from_serializable(config: pytest.Config, data: dict) -> pytest.TestReport | None:
    if _ONE_LINE not in data:
        return None
    report = pytest.TestReport._from_json(data)
    report.longrepr = OneLine(*data[_ONE_LINE], line_style=config.getoption("tbstyle", "auto") == "line")
    return report


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    collection = config.stash[SESSION].collection
    if not any(root in collection_path.parents for root in collection.roots):
        return None
    return True if collection.catalog.reached_before(collection_path) else None


@pytest.hookimpl(tryfirst=True)
def pytest_collect_directory(path: Path, parent: pytest.Collector) -> CaseDir | None:
    roots = parent.config.stash[SESSION].collection.roots
    if any(path == root or root in path.parents for root in roots) and not (path / "__init__.py").exists():
        return CaseDir.from_parent(parent, path=path)
    return None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> CaseFile | None:
    collection = parent.config.stash[SESSION].collection
    if is_case_file(file_path, collection.roots):
        return CaseFile.from_parent(
            parent,
            path=file_path,
            selection=collection.selection,
            catalog=collection.catalog,
            matchers=collection.matchers,
        )
    return None


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items: list[pytest.Item], config: pytest.Config) -> Generator[None]:
    # before -k/-m deselect: what was collected decides the training set, never what is asked
    config.stash[SESSION].evaluation.collected([i for i in items if isinstance(i, VariantItem)])
    invalid = [i for i in items if isinstance(i, InvalidCaseFile)]
    yield
    items[:0] = [i for i in invalid if i not in items]  # a broken case file is never deselected away


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[SESSION].preflight(session)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    collection = config.stash[SESSION].collection
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and not (
        collection.catalog.datasets or collection.catalog.invalid
    ):
        terminalreporter.write_line(NO_CASES.format(where=", ".join(str(p) for p in collection.roots)))
