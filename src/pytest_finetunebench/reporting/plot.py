"""PNG plots of a run (``--ftb-plot DIR``), drawn with matplotlib's Agg backend (no display).

* ``accuracy.png``: one panel per dataset, bars grouped by split, one bar per model stage, 95%
  Wilson intervals as error bars (the layout of the paper's Figure 2). Epoch checkpoints other
  than the last are left out here; they have their own plot.
* ``epochs_<model>.png``: for a sweep (``--ftb-epochs=1,3,10``), accuracy after each epoch, one
  line per split (all datasets pooled), with the 95% intervals as bands.

matplotlib is the optional ``plot`` extra: :func:`require` turns its absence into one line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ..cases.schema import generalizes
from ..items import epoch_of, final_stages
from .report import GENERALIZATION, Summary, _split_order
from .stats import wilson

INSTALL = "pip install 'pytest-finetunebench[plot]'"


def require() -> None:
    """Raise a one-line usage error if matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise pytest.UsageError(f"--ftb-plot needs matplotlib, which is not installed; fix: {INSTALL}") from None


def _pyplot():  # type: ignore[no-untyped-def]
    require()
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def bar_targets(summary: Summary) -> list[str]:
    """Targets drawn as bars: every stage except epoch checkpoints before a model's last one."""
    final = final_stages((r.model, r.stage) for r in summary.records)
    keep = []
    for r in summary.records:
        if epoch_of(r.stage) is None or r.stage == final[r.model]:
            keep.append(r.target)
    return list(dict.fromkeys(keep))


def write(summary: Summary, directory: Path) -> list[Path]:
    """Draw every plot that applies to ``summary`` into ``directory``; returns the files written."""
    if not summary.records:
        return []
    directory.mkdir(parents=True, exist_ok=True)
    written = [accuracy_bars(summary, directory / "accuracy.png")]
    sweeps = dict.fromkeys(r.model for r in summary.records if epoch_of(r.stage) is not None)
    for model in sweeps:
        written.append(epoch_lines(summary, model, directory / f"epochs_{_slug(model)}.png"))
    return written


def accuracy_bars(summary: Summary, path: Path) -> Path:
    """Grouped bars: per dataset panel, per split group, one bar per target, with 95% intervals."""
    plt = _pyplot()
    targets = bar_targets(summary)
    cells = {(c.target, c.dataset, c.split): c for c in summary.cells()}
    datasets = list(dict.fromkeys(r.dataset for r in summary.records))
    colors = plt.get_cmap("tab10").colors
    fig, axes = plt.subplots(
        len(datasets),
        1,
        figsize=(max(6.0, 1.2 + 1.6 * _max_splits(summary) * (0.5 + 0.25 * len(targets))), 3.6 * len(datasets) + 0.6),
        squeeze=False,
    )
    width = min(0.8 / len(targets), 0.4)
    for ax, dataset in zip(axes[:, 0], datasets):
        splits = sorted({s for t, d, s in cells if d == dataset}, key=_split_order)
        for i, target in enumerate(targets):
            xs, ys, lo, hi = [], [], [], []
            for j, split in enumerate(splits):
                cell = cells.get((target, dataset, split))
                if cell is None or not cell.n:
                    continue
                a, b = cell.interval
                xs.append(j + width * (i + 0.5 - len(targets) / 2))
                ys.append(cell.accuracy)
                lo.append(max(0.0, cell.accuracy - a))
                hi.append(max(0.0, b - cell.accuracy))
            ax.bar(
                xs,
                ys,
                width * 0.92,
                yerr=[lo, hi],
                capsize=3,
                label=target,
                color=colors[i % len(colors)],
                error_kw={"elinewidth": 1, "ecolor": "#333333"},
            )
        ax.set_xticks(range(len(splits)))
        ax.set_xticklabels([s.replace("_", " ") for s in splits])
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("accuracy")
        ax.set_title(dataset)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    fig.suptitle("FineTuneBench accuracy per split (error bars: 95% Wilson interval)", fontsize="medium")
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _max_splits(summary: Summary) -> int:
    per: dict[str, set[str]] = {}
    for r in summary.records:
        per.setdefault(r.dataset, set()).add(r.split)
    return max(len(s) for s in per.values())


def epoch_series(summary: Summary, model: str) -> dict[str, list[tuple[int, float, float, float]]]:
    """Per split (and generalization, when there are several): (epoch, accuracy, ci low, ci high), by epoch."""
    points: dict[str, dict[int, list[int]]] = {}  # scope -> epoch -> [correct, n]
    for r in summary.records:
        n = epoch_of(r.stage)
        if r.model != model or n is None or r.error is not None:
            continue
        for scope in {r.split, GENERALIZATION if generalizes(r.split) else r.split}:
            tally = points.setdefault(scope, {}).setdefault(n, [0, 0])
            tally[0] += int(r.passed)
            tally[1] += 1
    scopes = sorted((s for s in points if s != GENERALIZATION), key=_split_order)
    if len([s for s in scopes if generalizes(s)]) > 1:
        scopes.append(GENERALIZATION)
    return {s: [(e, c / n, *wilson(c, n)) for e, (c, n) in sorted(points[s].items())] for s in scopes}


def epoch_lines(summary: Summary, model: str, path: Path) -> Path:
    """Accuracy after each epoch of ``model``'s sweep: one line per split plus generalization, pooled over datasets."""
    plt = _pyplot()
    series = epoch_series(summary, model)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    colors = plt.get_cmap("tab10").colors
    for i, (scope, rows) in enumerate(series.items()):
        epochs = [row[0] for row in rows]
        style = {"linestyle": "--", "color": "black"} if scope == GENERALIZATION else {"color": colors[i % len(colors)]}
        ax.plot(epochs, [row[1] for row in rows], marker="o", label=scope.replace("_", " "), **style)
        ax.fill_between(epochs, [row[2] for row in rows], [row[3] for row in rows], alpha=0.12, color=style["color"])
    all_epochs = sorted({row[0] for rows in series.values() for row in rows})
    ax.set_xticks(all_epochs)
    if all_epochs and all_epochs[-1] / all_epochs[0] >= 10:
        ax.set_xscale("log")
        ax.set_xticks(all_epochs)
        ax.set_xticklabels([str(e) for e in all_epochs])
        ax.minorticks_off()
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("epochs")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{model}: accuracy vs epochs (bands: 95% Wilson interval)", fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
