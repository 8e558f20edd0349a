"""``--ftb-plot``: grouped accuracy bars with 95% intervals, accuracy vs epochs for a sweep."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest
from test_runs import (  # noqa: F401  (the same invented project)
    GOOD,
    WORSE,
    project,  # noqa: F401  (fixture)
    write_answers,
)

from pytest_finetunebench.grading.outcome import Record
from pytest_finetunebench.reporting import plot
from pytest_finetunebench.reporting.report import Summary
from pytest_finetunebench.reporting.stats import wilson

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")

PNG = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG header (IHDR)."""
    data = path.read_bytes()
    assert data[:8] == PNG, f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(autouse=True)
def _no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def test_plot_option_writes_a_bar_chart(project: pytest.Pytester) -> None:  # noqa: F811
    pytest.importorskip("matplotlib")
    write_answers(project, WORSE)
    result = project.runpytest(
        "cases", "--ftb-responses=responses", "--ftb-model=modela", "-p", "no:xdist", "--ftb-plot=plots"
    )
    result.assert_outcomes(passed=3, failed=1)
    path = project.path / "plots" / "accuracy.png"
    result.stdout.fnmatch_lines(["*plot written to *plots/accuracy.png*"])
    width, height = png_size(path)
    assert width > 400 and height > 300
    assert path.stat().st_size > 10_000
    assert sorted(p.name for p in (project.path / "plots").iterdir()) == ["accuracy.png"]  # no sweep, no epoch plot


def test_missing_matplotlib_is_one_line_naming_the_extra(
    project: pytest.Pytester,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    result = project.runpytest(
        "cases", "--ftb-responses=responses", "--ftb-model=modela", "-p", "no:xdist", "--ftb-plot=plots"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--ftb-plot needs matplotlib*fix: pip install 'pytest-finetunebench[[]plot[]]'"])
    assert not (project.path / "plots").exists()


def _sweep() -> Summary:
    """m tuned 1, 3 and 10 epochs (plus base): memorization climbs 1/4, 3/4, 4/4; rephrased 0/4, 1/4, 2/4."""
    records = []
    right = {
        1: {"memorization": 1, "rephrased": 0, "comparison": 0},
        3: {"memorization": 3, "rephrased": 1, "comparison": 1},
        10: {"memorization": 4, "rephrased": 2, "comparison": 1},
    }
    for epoch, splits in right.items():
        for split, n in splits.items():
            for i in range(4):
                records.append(
                    Record(
                        "m",
                        f"epoch:{epoch}",
                        "towns",
                        f"c{i}",
                        split,
                        "q?",
                        "a",
                        "a" if i < n else "b",
                        i < n,
                        "exact",
                        1.0,
                        "",
                    )
                )
    records += [
        Record("m", "base", "towns", f"c{i}", "memorization", "q?", "a", "b", False, "exact", 0.0, "") for i in range(4)
    ]
    return Summary(records)


def test_epoch_series_has_one_point_per_epoch_and_split() -> None:
    series = plot.epoch_series(_sweep(), "m")
    assert list(series) == ["memorization", "rephrased", "comparison", "generalization"]
    assert [(e, a) for e, a, _, _ in series["memorization"]] == [(1, 0.25), (3, 0.75), (10, 1.0)]
    assert [(e, a) for e, a, _, _ in series["rephrased"]] == [(1, 0.0), (3, 0.25), (10, 0.5)]
    assert [(e, a) for e, a, _, _ in series["generalization"]] == [(1, 0.0), (3, 0.25), (10, 3 / 8)]
    assert series["rephrased"][2][2:] == pytest.approx(wilson(2, 4))


def test_sweep_plots_bars_for_the_last_epoch_and_a_line_chart(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    summary = _sweep()
    assert plot.bar_targets(summary) == ["m@epoch:10", "m@base"]
    written = plot.write(summary, tmp_path / "plots")
    assert [p.name for p in written] == ["accuracy.png", "epochs_m.png"]
    for path in written:
        width, height = png_size(path)
        assert width > 400 and height > 300 and path.stat().st_size > 10_000
