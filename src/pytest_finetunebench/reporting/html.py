"""One self-contained HTML page per run (``--ftb-html=FILE``, ``python -m pytest_finetunebench html``).

The page needs no network: its style, its small filtering script and its plots (inline SVG drawn
by matplotlib, when the ``plot`` extra is installed) are all inside the file, so it opens from disk
and as a CI artifact. It shows the run header (models, providers, datasets with their hashes,
hyperparameters, version, commit, time, gate verdicts), the leaderboard, the per-split table with
intervals and the in-form share, the before -> after table, the recipes table (several
``--ftb-recipe``), the model-judge table, and every item,
filterable by model stage, split and verdict and searchable; with a compared run, the items that
flipped (pass -> fail, fail -> pass) come first. The filters can also be set from the address
(``page.html#verdict=fail&split=rephrased&q=velmora``).

Everything that came from a model or a case file is escaped: an answer is untrusted text.

Usage::

    python -m pytest_finetunebench html RUN.json --out FILE [--compare OLDER_RUN.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import pytest

from ..grading.outcome import Record
from . import paired, retention
from .report import Summary, _split_order
from .text import BEFORE_AFTER_TITLE, JUDGE_TITLE, RECIPE_TITLE, elsewhere_note, precision_note, system_note

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2330;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde2ea;padding-bottom:4px}
table{border-collapse:collapse;margin:6px 0}
th,td{border:1px solid #dde2ea;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f2f5f9}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#126b2f}.fail{color:#a3121b}.error{color:#8a5a00}.muted{color:#667085}
.items td{max-width:420px;white-space:pre-wrap;word-break:break-word}
#filters{display:flex;gap:10px;flex-wrap:wrap;margin:8px 0}#filters label{font-size:13px}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:8px 0}dt{font-weight:600}dd{margin:0}
.svg svg{max-width:100%;height:auto}
"""

SCRIPT = """
(function(){
  var rows=[].slice.call(document.querySelectorAll('#items tbody tr'));
  var ids=['f-target','f-split','f-verdict','f-q'];
  function apply(){
    var t=document.getElementById('f-target').value,s=document.getElementById('f-split').value,
        v=document.getElementById('f-verdict').value,q=document.getElementById('f-q').value.toLowerCase();
    var shown=0;
    rows.forEach(function(r){
      var ok=(!t||r.dataset.target===t)&&(!s||r.dataset.split===s)&&(!v||r.dataset.verdict===v)
             &&(!q||r.textContent.toLowerCase().indexOf(q)>=0);
      r.hidden=!ok; if(ok){shown++;}
    });
    document.getElementById('shown').textContent=shown+' of '+rows.length+' items shown';
  }
  var hash=new URLSearchParams(location.hash.slice(1)),
      keys={target:'f-target',split:'f-split',verdict:'f-verdict',q:'f-q'};
  Object.keys(keys).forEach(function(k){if(hash.has(k)){document.getElementById(keys[k]).value=hash.get(k);}});
  ids.forEach(function(id){var el=document.getElementById(id);
    el.addEventListener('input',apply);el.addEventListener('change',apply);});
  apply();
})();
"""


def records(run: Mapping[str, Any]) -> list[Record]:
    """The run's items as records (a saved run or a ``--ftb-report`` file)."""
    return [Record.from_item(item) for item in run.get("items", [])]


def _verdict(r: Record) -> str:
    return "error" if r.error is not None else "pass" if r.passed else "fail"


def _key(r: Record) -> tuple[str, str, str, str, str, int]:
    return (r.target, r.dataset, r.case_id, r.split, r.question, -1 if r.seed is None else r.seed)


def flipped(before: Sequence[Record], now: Sequence[Record]) -> list[tuple[Record, str]]:
    """Items graded in both runs whose verdict changed: (the item now, ``pass -> fail`` / ``fail -> pass``)."""
    then = {_key(r): r for r in before if r.error is None}
    out = []
    for r in now:
        old = then.get(_key(r))
        if old is not None and r.error is None and old.passed != r.passed:
            out.append((r, "fail -> pass" if r.passed else "pass -> fail"))
    return sorted(out, key=lambda x: (x[1] != "pass -> fail", x[0].target, x[0].dataset, x[0].case_id))


def _table(rows: list[list[str]], numeric_from: int = 99) -> str:
    head, *body = rows
    out = ["<table><thead><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for row in body:
        cells = (
            f'<td class="num">{escape(v)}</td>' if i >= numeric_from else f"<td>{escape(v)}</td>"
            for i, v in enumerate(row)
        )
        out += ["<tr>", *cells, "</tr>"]
    return "".join(out + ["</tbody></table>"])


def _header(run: Mapping[str, Any]) -> str:
    git = run.get("git") or {}
    commit = (git.get("commit") or "")[:12] + (" (dirty)" if git.get("dirty") else "")
    datasets = ", ".join(
        f"{name} ({(d or {}).get('path') or '?'}, sha256 {str((d or {}).get('sha256'))[:12]})"
        for name, d in (run.get("datasets") or {}).items()
    )
    hyper = ", ".join(f"{k}={v}" for k, v in (run.get("hyperparameters") or {}).items() if v not in (None, [], {}))
    providers = ", ".join(f"{m} ({p})" for m, p in (run.get("providers") or {}).items())
    gate = run.get("gate") or {}
    verdicts = []
    for flag, failures in (("--ftb-fail-under", "failures"), ("--ftb-compare-fail", "compare_failures")):
        spec = gate.get(flag.removeprefix("--ftb-").replace("-", "_"))
        if spec:
            misses = gate.get(failures)
            verdicts.append(f"{flag}={spec}: " + ("passed" if not misses else "FAILED: " + "; ".join(misses)))
    rows = [
        ("models", providers or ", ".join(run.get("models") or [])),
        ("datasets", datasets),
        ("hyperparameters", hyper),
        ("precision", precision_note(run.get("precision") or {}, run.get("generated_in") or {}) or "-"),
        ("plugin", str(run.get("plugin_version") or "?")),
        ("commit", commit or "-"),
        ("when", str(run.get("created") or "?")),
        ("gates", " | ".join(verdicts) or "none set"),
    ]
    if "system_message" in run:
        rows.insert(2, ("system message", system_note(run["system_message"])))
    if run.get("tuned_elsewhere"):
        rows.insert(1, ("tuned", elsewhere_note(run["tuned_elsewhere"])))
    if run.get("invalid_case_files"):
        rows.append(("invalid case files", " | ".join(run["invalid_case_files"])))
    return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows) + "</dl>"


def _plots(summary: Summary) -> str:
    """The run's plots as inline SVG (a note instead without matplotlib)."""
    from . import plot

    try:
        plot.require()
    except pytest.UsageError:  # matplotlib is not installed
        return '<p class="muted">plots need the plot extra (matplotlib)</p>'
    import matplotlib

    parts = []
    # stable ids, no creation date: the same run gives the same page
    with tempfile.TemporaryDirectory() as tmp, matplotlib.rc_context({"svg.hashsalt": "finetunebench"}):
        paths = [plot.accuracy_bars(summary, Path(tmp) / "accuracy.svg")]
        for model in dict.fromkeys(r.model for r in summary.records if r.stage.startswith("epoch:")):
            paths.append(plot.epoch_lines(summary, model, Path(tmp) / f"epochs_{plot._slug(model)}.svg"))
        for path in paths:
            svg = path.read_text(encoding="utf-8")
            svg = re.sub(r"<metadata>.*?</metadata>", "", svg[svg.index("<svg") :], flags=re.DOTALL)
            parts.append(f'<div class="svg">{svg}</div>')
    return "".join(parts)


def _items(summary: Summary, flips: list[tuple[Record, str]]) -> str:
    targets = list(dict.fromkeys(r.target for r in summary.records))
    splits = sorted({r.split for r in summary.records}, key=_split_order)
    options = lambda values: "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in values)  # noqa: E731
    filters = (
        '<div id="filters">'
        f'<label>model <select id="f-target"><option value="">all</option>{options(targets)}</select></label>'
        f'<label>split <select id="f-split"><option value="">all</option>{options(splits)}</select></label>'
        '<label>verdict <select id="f-verdict"><option '
        f'value="">all</option>{options(["pass", "fail", "error"])}</select></label>'
        '<label>search <input id="f-q" type="search" placeholder="question, answer, reason"></label>'
        '<span id="shown" class="muted"></span></div>'
    )
    flip_of = {id(r): change for r, change in flips}
    ordered = [r for r, _ in flips] + [r for r in sorted(summary.records, key=_key) if id(r) not in flip_of]
    head = ["model", "dataset", "split", "case", "question", "gold", "answer", "verdict", "matcher", "reason"]
    rows = []
    for r in ordered:
        verdict = _verdict(r)
        shown = verdict + (f" ({flip_of[id(r)]})" if id(r) in flip_of else "")
        reason = r.error if r.error is not None else r.reason
        cells = [
            r.target if r.seed is None else f"{r.target} (seed {r.seed})",
            r.dataset,
            r.split,
            r.case_id,
            r.question,
            r.expected,
            r.answer or "",
            shown,
            r.matcher,
            reason or "",
        ]
        rows.append(
            f'<tr data-target="{escape(r.target)}" data-split="{escape(r.split)}" data-verdict="{verdict}">'
            + "".join(
                f'<td class="{verdict}">{escape(c)}</td>' if i == 7 else f"<td>{escape(c)}</td>"
                for i, c in enumerate(cells)
            )
            + "</tr>"
        )
    return (
        filters
        + '<table id="items" class="items"><thead><tr>'
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _retention(summary: Summary) -> list[str]:
    """The retention table, then every question forgotten: right before tuning, wrong after."""
    kept = retention.table(summary.records)
    if not kept:
        return []
    lost = [["model", "dataset", "case", "question", "gold", "answer before", "answer after"]] + [
        [t.target, t.dataset, t.case_id, t.question, t.expected, b.answer or "", t.answer or ""]
        for target in retention.tuned_targets(summary.records)
        for b, t in retention.forgotten(summary.records, target)
    ]
    shown = _table(lost) if len(lost) > 1 else "<p>Nothing forgotten.</p>"
    return [
        "<h2>Retention</h2>",
        f'<p class="muted">{escape(retention.TITLE)}</p>',
        _table(kept, numeric_from=1),
        "<h3>Forgotten (right before tuning, wrong after)</h3>",
        shown,
    ]


def summary_tables(summary: Summary) -> str:
    """The leaderboard and the per-split table (for pytest-html's summary)."""
    return (
        f"<h2>FineTuneBench leaderboard</h2>{_table(summary.leaderboard_table())}"
        "<h2>FineTuneBench accuracy per model x dataset x split</h2>"
        + _table(summary.table(each_seed=True), numeric_from=3)
    )


def item_details(r: Record) -> str:
    """One item's question, gold, answer and verdict (for a pytest-html row)."""
    rows = [
        ("question", r.question),
        ("gold", r.expected),
        ("answer", r.answer or ""),
        ("verdict", f"{_verdict(r)}: {r.error if r.error is not None else r.reason}"),
    ]
    return "<dl>" + "".join(f"<dt>{k}</dt><dd>{escape(v)}</dd>" for k, v in rows) + "</dl>"


def render(run: Mapping[str, Any], compared: Mapping[str, Any] | None = None, *, plots: bool = True) -> str:
    """The page for ``run`` (a saved run's or ``--ftb-report``'s JSON), flips against ``compared``."""
    summary = Summary(records(run))
    summary.skipped = int(run.get("skipped") or 0)
    flips = flipped(records(compared), summary.records) if compared else []
    title = "FineTuneBench run" + (f" {run['number']:04d}" if isinstance(run.get("number"), int) else "")
    body = [f"<h1>{escape(title)}</h1>", _header(run)]
    if compared is not None:
        label = f"run {compared['number']:04d}" if isinstance(compared.get("number"), int) else "the compared run"
        body.append(f"<h2>Flipped since {escape(label)}</h2>")
        body.append(f"<p>{len(flips)} item(s) changed verdict; they are listed first among the items below.</p>")
        if flips:
            body.append(
                _table(
                    [["model", "dataset", "case", "split", "change"]]
                    + [[r.target, r.dataset, r.case_id, r.split, change] for r, change in flips]
                )
            )
    if summary.records:
        body += ["<h2>Leaderboard</h2>", _table(summary.leaderboard_table())]
        body += ["<h2>Accuracy per model x dataset x split</h2>", _table(summary.table(each_seed=True), numeric_from=3)]
        notes = summary.variance_note() + summary.measurability_notes()
        body += [f'<p class="muted">{escape(n)}</p>' for n in notes]
        before_after = summary.before_after_table()
        if before_after:
            body += [
                "<h2>Before -> after</h2>",
                f'<p class="muted">{escape(BEFORE_AFTER_TITLE)}</p>',
                _table(before_after),
            ]
        by_recipe = summary.recipe_table()
        if by_recipe:
            body += ["<h2>Recipes</h2>", f'<p class="muted">{escape(RECIPE_TITLE)}</p>', _table(by_recipe)]
        judged = summary.judge_table()
        if judged:
            body += [
                "<h2>Model judge</h2>",
                f'<p class="muted">{escape(JUDGE_TITLE)}</p>',
                _table(judged, numeric_from=3),
            ]
        body += _retention(summary)
        compared_pairs = paired.table(summary.comparisons())
        if compared_pairs:
            body += [
                "<h2>Paired comparisons</h2>",
                f'<p class="muted">{escape(paired.TITLE)}</p>',
                _table(compared_pairs, numeric_from=3),
            ]
        if plots:
            body += ["<h2>Plots</h2>", _plots(summary)]
        body += ["<h2>Items</h2>", _items(summary, flips)]
    else:
        body.append("<p>No graded items in this run.</p>")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>{''.join(body)}<script>{SCRIPT}</script></body></html>"
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m pytest_finetunebench html RUN.json --out FILE [--compare OLDER.json]``."""
    parser = argparse.ArgumentParser(
        prog="python -m pytest_finetunebench html", description="Build the HTML page of a saved run."
    )
    parser.add_argument("run", type=Path, help="a saved run (.ftb/runs/NNNN_*.json) or a --ftb-report file")
    parser.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    parser.add_argument("--compare", type=Path, help="an earlier run: its flipped items are listed first")
    args = parser.parse_args(argv)
    try:
        run = json.loads(args.run.read_text(encoding="utf-8"))
        compared = json.loads(args.compare.read_text(encoding="utf-8")) if args.compare else None
        args.out.write_text(render(run, compared), encoding="utf-8")
    except (OSError, ValueError) as exc:
        print(f"python -m pytest_finetunebench html: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}")
    return 0
