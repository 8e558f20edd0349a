"""``python -m pytest_finetunebench import-upstream``: FineTuneBench's published CSVs -> case files.

Usage::

    python -m pytest_finetunebench import-upstream CLONE --out DIR [--all-latest-news] [--datasets a,b]

``CLONE`` is a clone of the paper's repository (kevinwu23/StanfordFineTuneBench), read from
``CLONE/datasets/<dataset>/*.csv``; one case file ``DIR/<dataset>.yaml`` is written per dataset
(``latest_news``, ``fictional_people``, ``medical``, ``coding``; all four unless ``--datasets``).
The upstream repository carries no license: the files are written where the user asks and the
project never ships them.

What is sent to the model is kept byte for byte: when every row of a split is
``prefix + question + suffix`` with one prefix and suffix, the split gets a template
``prefix{question}suffix``; otherwise each item gets its exact ``prompt:``.

Case ids (stable for a given upstream file):

* an upstream id is kept byte for byte (curly apostrophes, commas, spaces and all), so a report
  joins back to the upstream rows by ``id``; only what a pytest node name cannot carry (``::``,
  ``[``, ``]``, control characters, outer spaces) is changed (see :func:`sanitize_id`). A true
  repeat of an id gets ``-2``, ``-3`` in file order.
* fictional_people repeats one upstream id per person for six attributes: its training cases are
  ``<person id>-<attribute>`` with the attribute read from the question (``weight``, ``height``,
  ``age``, ``occupation``, ``favorite-color``, ``city``), or ``<person id>-<n>`` (1-based
  position among that person's rows) when the question is not one of those six forms.

Exit status: 0 written; 1 the clone's data is unusable (a missing file or column, a row that
does not join), nothing written; 2 a bad command line (unknown option or dataset, no such
clone directory).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ...store.jobstore import atomic_write
from ..casefile import load_dataset
from ..schema import CaseFileError
from .build import Built, Quoted, build_coding, build_latest_news, build_medical
from .people import build_fictional_people
from .tables import PROG, REPOSITORY, REPOSITORY_URL, UpstreamError, UsageError

DATASETS = ("latest_news", "fictional_people", "medical", "coding")


# ---------------------------------------------------------------------------------------------
# writing


class _Dumper(yaml.SafeDumper):
    """The safe dumper, plus double quotes for answers."""


_Dumper.add_representer(Quoted, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", str(v), style='"'))


def render(built: Built) -> bytes:
    """The case file's bytes (deterministic: same data, same bytes)."""
    header = (
        f"# Imported from {REPOSITORY} by `{PROG}`; regenerate rather than edit.\n"
        "# The upstream repository has no license: keep this file out of version control.\n"
    )
    body = yaml.dump(
        built.data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=2**31 - 1, default_flow_style=False
    )
    return (header + body).encode("utf-8")


def _self_check(path: Path, built: Built) -> None:
    """Load the written file and compare every rendered prompt with the upstream one."""
    try:
        ds = load_dataset(path)
    except CaseFileError as exc:
        raise UpstreamError(f"internal error: the written file does not load ({exc}); please report it") from None
    got = [(c.id, v.split, v.prompt) for c in ds.cases for v in c.variants]
    if got != built.expected:
        n = next((i for i, (g, e) in enumerate(zip(got, built.expected)) if g != e), min(len(got), len(built.expected)))
        have = got[n] if n < len(got) else None
        want = built.expected[n] if n < len(built.expected) else None
        raise UpstreamError(
            f"internal error: {path} item {n + 1} renders {have!r} where upstream has {want!r}; please report it"
        )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


BUILDERS = {
    "latest_news": lambda clone, args: build_latest_news(clone, args.all_latest_news),
    "fictional_people": lambda clone, args: build_fictional_people(clone),
    "medical": lambda clone, args: build_medical(clone),
    "coding": lambda clone, args: build_coding(clone),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2
        raise UsageError(f"{message}; fix: see `{PROG} --help`")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description=f"Turn a clone of {REPOSITORY} (its datasets/<name>/*.csv) into case files OUT/<name>.yaml.",
    )
    p.add_argument("clone", type=Path, help="root of a clone of the upstream repository")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="directory to write <dataset>.yaml into")
    p.add_argument(
        "--all-latest-news",
        action="store_true",
        help="import all latest_news rows, not only the 50 used_in_analysis ones",
    )
    p.add_argument(
        "--datasets",
        metavar="A,B",
        default=",".join(DATASETS),
        help=f"datasets to import (default: {','.join(DATASETS)})",
    )
    return p


def run(argv: Sequence[str]) -> list[tuple[Path, int, int]]:
    """Import as the command line says; return (file, cases, items) per file written."""
    args = _parser().parse_args(list(argv))
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = [n for n in names if n not in DATASETS]
    if unknown or not names:
        raise UsageError(
            f"unknown dataset `{unknown[0] if unknown else args.datasets}`; fix: --datasets takes some of "
            f"{','.join(DATASETS)}"
        )
    names = [n for n in DATASETS if n in names]
    clone: Path = args.clone
    if not clone.is_dir():
        raise UsageError(f"{clone}: no such directory; fix: pass the root of a clone of {REPOSITORY_URL}")
    if not (clone / "datasets").is_dir():
        raise UsageError(
            f"{clone}: has no datasets/ folder; fix: pass the root of a clone of {REPOSITORY} (the folder holding "
            "datasets/)"
        )
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"{args.out}: exists and is not a directory; fix: give --out a directory")
    built = [BUILDERS[n](clone, args) for n in names]  # everything is read before anything is written
    written = []
    for b in built:
        path = args.out / f"{b.name}.yaml"
        try:
            atomic_write(path, render(b))
            path.chmod(0o666 & ~_umask())  # atomic_write's temp file is private (0600)
        except OSError as exc:
            raise UpstreamError(
                f"{path}: cannot write ({exc.strerror or exc}); fix: give --out a writable directory"
            ) from None
        _self_check(path, b)
        written.append((path, len(b.data["cases"]), len(b.expected)))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """The command: exit 0 when written, 1 for unusable data, 2 for a bad command line."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        written = run(argv)
    except UpstreamError as exc:
        print(f"import-upstream: error: {exc}", file=sys.stderr)
        return exc.exit_code
    for path, n_cases, n_items in written:
        print(f"wrote {path}: {n_cases} cases, {n_items} items")
    return 0
