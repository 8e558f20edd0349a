"""Reading a FineTuneBench clone: its CSV tables, their required columns, and stable case ids.

Every problem with the clone's data is an :class:`UpstreamError` whose text is one line naming the
file (and row) and the fix; nothing here writes anything.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = "kevinwu23/StanfordFineTuneBench"
REPOSITORY_URL = f"https://github.com/{REPOSITORY}"
PROG = "python -m pytest_finetunebench import-upstream"


class UpstreamError(Exception):
    """The clone's data cannot be imported; ``str()`` is one line naming the file and the fix."""

    exit_code = 1


class UsageError(UpstreamError):
    """A bad command line (no such clone directory, unknown dataset)."""

    exit_code = 2


def allow_long_csv_fields() -> None:
    """Let the csv module read upstream's long cells (article texts exceed its 128 KiB default)."""
    limit = 2**31 - 1
    if csv.field_size_limit() < limit:
        csv.field_size_limit(limit)


def sanitize_id(raw: str) -> str:
    """A valid case id from an upstream id: ``raw`` itself whenever a pytest node name can carry it."""
    text = re.sub(r":{2,}", ":", re.sub(r"[\x00-\x1f\x7f]", "", raw).strip()).replace("[", "(").replace("]", ")")
    return text or "row"


class Ids:
    """Hands out unique ids: the wanted one, or ``wanted-2``, ``wanted-3``... on a repeat."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def take(self, wanted: str) -> str:
        candidate, n = wanted, 1
        while candidate in self.taken:
            n += 1
            candidate = f"{wanted}-{n}"
        self.taken.add(candidate)
        return candidate


@dataclass
class Table:
    path: Path
    rel: str  # path inside the clone, as named in `source:`
    rows: list[dict[str, str]]


def read_table(clone: Path, rel: str, columns: Iterable[str], dataset: str) -> Table:
    path = clone / rel
    if not path.is_file():
        raise UpstreamError(
            f"{path}: file not found; fix: pass the root of a complete clone of {REPOSITORY}"
            f" or leave {dataset} out with --datasets"
        )
    allow_long_csv_fields()
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            rows = [dict(r) for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UpstreamError(
            f"{path}: cannot read it as UTF-8 CSV ({exc}); fix: use an unmodified copy of the upstream file"
        ) from None
    missing = [c for c in columns if c not in header]
    if missing:
        raise UpstreamError(
            f"{path}: no column {', '.join(f'`{c}`' for c in missing)} (it has {', '.join(header) or 'none'});"
            " fix: use an unmodified copy of the upstream file"
        )
    if not rows:
        raise UpstreamError(f"{path}: the file has no rows; fix: use an unmodified copy of the upstream file")
    for n, row in enumerate(rows, start=2):
        for c in columns:
            if row.get(c) is None:
                raise UpstreamError(
                    f"{path}:{n}: the row is short of column `{c}`; fix: use an unmodified copy of the upstream file"
                )
    return Table(path, rel, rows)


def require(table: Table, row: dict[str, str], *columns: str) -> None:
    for c in columns:
        if not row[c].strip():
            raise UpstreamError(
                f"{table.path}: row with id `{row.get('id', '?')}` has an empty `{c}`;"
                " fix: use an unmodified copy of the upstream file"
            )
