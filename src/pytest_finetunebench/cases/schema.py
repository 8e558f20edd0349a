"""What a case file may say: its splits, matchers, kinds and keys, and the error it raises.

The vocabulary :mod:`.casefile` checks a file against, and that the rest of the plugin reads
(which splits count toward Generalization, which matchers exist).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

MEMORIZATION = "memorization"
BUILTIN_SPLITS = (MEMORIZATION, "rephrased", "date_changed", "secondary", "comparison", "vignette", "code", "retention")
RETENTION = "retention"  # never trained on; scored on what the untuned model knew (reporting/retention.py)


def generalizes(split: str) -> bool:
    """Whether ``split`` counts toward Generalization: every split but memorization and retention."""
    return split not in (MEMORIZATION, RETENTION)


def linked_groups(uses: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """Each case's linked group: the case, the cases it ``uses``, theirs, and every case that uses any
    of them (a comparison case and its two fact cases answer from shared facts, so they are not
    independent). Named by its case ids, sorted and joined with ``+``; a case linked to none is its own id.
    """
    parent = {c: c for c in uses}

    def root(c: str) -> str:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    for case, used in uses.items():
        for u in used:
            if u in parent:
                parent[root(u)] = root(case)
    members: dict[str, list[str]] = {}
    for c in uses:
        members.setdefault(root(c), []).append(c)
    return {c: "+".join(sorted(members[root(c)])) for c in uses}


MATCHERS = ("auto", "exact", "number", "yes_no", "abstain", "contains", "fuzzy")
KINDS = ("new_knowledge", "updating_knowledge", "general_knowledge")
QUESTION_SLOT = "{question}"
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# any text a pytest node name can carry: no `::`, brackets, control characters or outer spaces
CASE_ID = re.compile(r"^(?!.*::)[^\s\[\]\x00-\x1f\x7f](?:[^\[\]\x00-\x1f\x7f]*[^\s\[\]\x00-\x1f\x7f])?$")

DATASET_KEYS = {"dataset", "kind", "description", "source", "splits", "templates", "matcher", "cases"}
CASE_KEYS = set("id fact subject question answer answer_before matcher prompt uses variants train".split())
TRAIN_KEYS = {"question", "answer"}
LEAK_RATIO = 90  # a training phrasing this close (rapidfuzz ratio, normalized) to an evaluation question is a leak
VARIANT_KEYS = {"split", "question", "answer", "matcher", "prompt"}


class CaseFileError(Exception):
    """A case file that cannot be used; ``str()`` is one line naming file:line, field and fix."""

    def __init__(self, path: Path | str, line: int, message: str) -> None:
        self.path, self.line, self.message = Path(path), line, message
        super().__init__(f"{path}:{line}: {message}")
