"""Docs that cannot rot: every fenced code block in README.md and docs/*.md runs (one test per
block, id ``file:line``) or is marked with the reason it cannot, and every relative link and
``#anchor`` resolves. The parsing and the sandbox are in tests/docs_blocks.py (Sybil for the
blocks, markdown-it-py for links and headings); ``python tests/docs_blocks.py`` prints the count of
blocks run and marked per file."""

from __future__ import annotations

import unittest
from pathlib import Path

import pytest
from docs_blocks import (
    ROOT,
    TWO_COMMANDS,
    ShellEvaluator,
    blocks,
    broken_links,
    documents,
    fences,
    marker_problems,
    run,
    summary,
    sybil,
)
from sybil.example import SybilFailure

BLOCKS = [block for path in documents() for block in blocks(path)]


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_the_block_runs_or_is_marked(block, tmp_path):
    run(block, tmp_path)


def test_every_marked_block_says_why():
    assert marker_problems(BLOCKS) == []
    assert [block.id for block in BLOCKS if block.skip is not None]  # the docs do mark blocks


@pytest.mark.parametrize("path", documents(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_sybil_finds_every_fenced_block(path):
    """A block Sybil's lexer missed would be neither run nor checked for a marker."""
    assert [block.line for block in blocks(path)] == fences(path)


def test_every_relative_link_and_anchor_resolves():
    assert broken_links() == []


def test_the_readme_stays_short_and_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200
    assert lines[:3] == ["# pytest-finetunebench", "", "```bash"] and lines[5] == "```"
    assert lines[3].startswith("make bench ") and lines[4].startswith("make test ")
    assert [block.skip for block in blocks(ROOT / "README.md")][0] == TWO_COMMANDS


def test_the_summary_counts_every_block():
    lines = summary()
    marked = sum(block.skip is not None for block in BLOCKS)
    assert lines[-1] == f"all: {len(BLOCKS) - marked} run, {marked} marked, {len(BLOCKS)} blocks"
    assert len(lines) - 1 == len({block.path for block in BLOCKS})
    print("\n".join(lines))


# -- the checkers themselves, on a small tree ---------------------------------------------------

TREE = {
    "README.md": "# Title\n\nSee [the guide](docs/guide.md#usage) and [setup](docs/guide.md#setup).\n",
    "docs/guide.md": (
        "# Guide\n\n## Usage\n\nSee [the readme](../README.md), [x](missing.md) and\n"
        "[the end](#the-end), [usage](#usage).\n\n## Usage\n"
    ),
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name, text in TREE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_a_broken_link_and_a_broken_anchor_are_one_line_each(tree):
    assert broken_links(tree) == [
        "README.md:3: link to docs/guide.md#setup: no heading in docs/guide.md has the anchor #setup;"
        " fix: use one of #guide, #usage, #usage-1",
        "docs/guide.md:5: link to missing.md: no such file; fix: point it at an existing file",
        "docs/guide.md:6: link to #the-end: no heading in this file has the anchor #the-end;"
        " fix: use one of #guide, #usage, #usage-1",
    ]


MARKED = """# Page

<!-- skip: next "needs OPENAI_API_KEY" -->
```bash
pytest --ftb-model=gpt-4o-mini-2024-07-18 --ftb-record-mode=once
```

<!-- skip: next -->
```text
output
```

```yaml
key: value
```

```bash
echo from the block
exit 3
```
"""


@pytest.fixture
def page(tmp_path: Path) -> Path:
    path = tmp_path / "page.md"
    path.write_text(MARKED, encoding="utf-8")
    return path


def test_a_marker_without_a_reason_is_one_line(page):
    found = blocks(page)
    assert [(block.line, block.language, block.skip) for block in found] == [
        (4, "bash", '"needs OPENAI_API_KEY"'),
        (9, "text", ""),
        (13, "yaml", None),
        (17, "bash", None),
    ]
    # Sybil's bare `skip: next` would skip the block silently
    assert marker_problems(found) == [
        "page.md:9: the skip marker before this text block gives no reason;"
        ' fix: <!-- skip: next "why it cannot run" -->'
    ]


def test_a_marked_block_is_skipped_with_its_reason(page, tmp_path):
    with pytest.raises(unittest.SkipTest) as info:
        run(blocks(page)[0], tmp_path)
    assert str(info.value) == "needs OPENAI_API_KEY"


def test_a_block_neither_run_nor_marked_fails_naming_its_line(page, tmp_path):
    with pytest.raises(SybilFailure) as info:
        run(blocks(page)[2], tmp_path)
    assert info.value.result == (
        "page.md:13: a yaml block is neither run nor marked;"
        ' fix: put <!-- skip: next "why it cannot run" --> right before it'
    )


def test_a_failing_shell_block_fails_with_its_output(page, tmp_path):
    examples = list(sybil(tmp_path).parse(page))
    evaluator = ShellEvaluator(tmp_path / "work")
    assert evaluator(examples[-1]) == "page.md:17: the block exited with status 3; its output ends:\nfrom the block"


OUTPUT = """# Page

```bash
printf 'header\\nfirst  \\nsecond\\nthird\\n'
```

<!-- output: "what it prints, abridged" -->
```
header
...
third
```

<!-- output: "what it prints" -->
```
header
third
second
```
"""


def test_an_output_block_is_compared_with_what_the_block_before_it_prints(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(OUTPUT, encoding="utf-8")
    found = blocks(page)
    assert [(block.line, block.output) for block in found] == [(3, False), (8, True), (15, True)]
    run(found[1], tmp_path / "abridged")  # every line it shows, in order: passes
    with pytest.raises(SybilFailure) as info:
        run(found[2], tmp_path / "reordered")
    assert info.value.result == (
        "page.md:15: the block before it no longer prints this line (or not in this order): second;"
        " fix: copy its output again"
    )
