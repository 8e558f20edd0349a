"""The documentation's code blocks and links, as the tests see them (tests/test_docs.py).

Sybil (a maintained Markdown-example runner) parses README.md and docs/*.md: every fenced code block
is an example, and an HTML comment right before a block marks it:

* ``<!-- skip: next "why" -->``: Sybil's own skip directive; the block is not run, for the reason
  given (it needs a key, a GPU, several machines, the network; or it is output or an illustration).
* ``<!-- sandbox: empty "why" -->``: the shell block runs in an empty folder (a new user's
  repository) instead of a copy of the checkout.
* ``<!-- output: "what it is" -->``: the block is what the nearest shell block before it prints: each of
  its lines other than ``...`` (an abridgement) must be among the lines that block printed, in
  order (trailing spaces aside); the test runs that block again and compares.

``python`` blocks run with Sybil's Python evaluator; ``bash``, ``sh``, ``shell`` and ``console``
blocks with :class:`ShellEvaluator`; a block of any other language that is not marked fails,
naming its line. markdown-it-py (a maintained CommonMark parser) finds the links and headings for
:func:`broken_links` and counts the fences Sybil must have found.

``python tests/docs_blocks.py`` prints how many blocks each file runs and marks.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from sybil import Document, Example, Region, Sybil
from sybil.evaluators.python import PythonEvaluator
from sybil.parsers.markdown import SkipParser
from sybil.parsers.markdown.lexers import DirectiveInHTMLCommentLexer, RawFencedCodeBlockLexer

ROOT = Path(__file__).resolve().parents[1]
# the paper's published answers (a clone): the nearest ../shared/upstream-finetunebench up from here,
# as tests/conftest.py finds it
_BESIDE = [folder / "shared" / "upstream-finetunebench" for folder in ROOT.parents]
SHARED = next((path for path in _BESIDE if path.is_dir()), _BESIDE[0])
SHELL = ("bash", "sh", "shell", "console")
# README.md's first block is the two commands it starts with (its first lines, as CI reads them): `make test` is
# the suite these checks run in and `make bench` trains for minutes, so the block is marked here, not in the file
TWO_COMMANDS = '"the two commands the README starts with: make test is the suite this runs in; make bench trains"'
SKIPPED_VARIABLES = ("PYTEST_", "OPENAI_API_KEY", "TOGETHER_API_KEY", "GOOGLE_", "GEMINI_API_KEY")


def documents(root: Path = ROOT) -> list[Path]:
    """README.md and every page under docs/, in that order."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


# -- the blocks ---------------------------------------------------------------------------------


class BlockParser:
    """Every fenced code block, whatever its language (none: ``""``), evaluated by its language."""

    def __init__(self, shell: ShellEvaluator) -> None:
        self.lexer = RawFencedCodeBlockLexer(
            info_pattern=re.compile(r"(?P<language>[^\n]*)$\n", re.MULTILINE),
            mapping={"language": "language", "source": "source"},
        )
        self.evaluators = {"python": PythonEvaluator(), **dict.fromkeys(SHELL, shell)}

    def __call__(self, document: Document) -> Iterator[Region]:
        for region in self.lexer(document):
            language = region.lexemes["language"].strip()
            region.parsed = region.lexemes["source"]
            region.evaluator = self.evaluators.get(language, Text(language))
            yield region


@dataclass
class Text:
    """A block in no language that runs: after an output marker it is compared with what the shell
    block before it printed; otherwise it fails, unless a skip marker stops it first."""

    language: str

    def __call__(self, example: Example) -> str | None:
        if not example.namespace.pop("output", False):
            return (
                f"{where(example)}: a {self.language or 'plain'} block is neither run nor marked;"
                ' fix: put <!-- skip: next "why it cannot run" --> right before it'
            )
        printed = [line.rstrip() for line in example.namespace.get("printed", "").splitlines()]
        at = 0
        for line in str(example.parsed).splitlines():
            if line.strip() == "...":
                continue
            try:
                at = printed.index(line.rstrip(), at) + 1
            except ValueError:
                return (
                    f"{where(example)}: the block before it no longer prints this line (or not in this order):"
                    f" {line.rstrip()}; fix: copy its output again"
                )
        return None


class OutputParser:
    """``<!-- output: "what it is" -->``: the next block is what the shell block before it prints."""

    def __init__(self) -> None:
        self.lexer = DirectiveInHTMLCommentLexer(directive="output")

    def __call__(self, document: Document) -> Iterator[Region]:
        for lexed in self.lexer(document):
            yield Region(lexed.start, lexed.end, lexed.lexemes["arguments"], self.evaluate)

    @staticmethod
    def evaluate(example: Example) -> None:
        example.namespace["output"] = True


class SandboxParser:
    """``<!-- sandbox: empty "why" -->``: the next shell block runs in an empty folder."""

    def __init__(self) -> None:
        self.lexer = DirectiveInHTMLCommentLexer(directive="sandbox")

    def __call__(self, document: Document) -> Iterator[Region]:
        for lexed in self.lexer(document):
            yield Region(lexed.start, lexed.end, lexed.lexemes["arguments"].split()[0], self.evaluate)

    @staticmethod
    def evaluate(example: Example) -> None:
        example.namespace["sandbox"] = example.parsed


WRAPPER = """#!{python}
# pytest as the documentation's shell blocks get it: a run that would train the embedded model
# (no --ftb-model, or only local: ones, and no --ftb-responses) gets --ftb-limit=1 --ftb-epochs=1;
# exit status 1 (items failed: wrong answers, the benchmark's ordinary result) counts as success.
import subprocess, sys
args = sys.argv[1:]
models = ",".join(a.split("=", 1)[1] for a in args if a.startswith("--ftb-model=")).split(",")
embedded = all(m.startswith("local:") for m in models if m) and not any(a.startswith("--ftb-responses") for a in args)
small = ["--ftb-limit=1", "--ftb-epochs=1"] if embedded else []
status = subprocess.call([sys.executable, "-m", "pytest", *args, *small])
sys.exit(0 if status == 1 else status)
"""


class ShellEvaluator:
    """Runs a shell block with ``bash -euo pipefail`` (a ``console`` block: its ``$ `` lines), in a
    sandbox under ``workdir``, and fails with the block's output when a command fails.

    The sandbox is a copy of the checkout's ``conftest.py`` (the ``memorizer:`` provider),
    ``pyproject.toml``, ``cases/`` and ``cassettes/``, with ``StanfordFineTuneBench`` linked to the
    paper's published answers (``../shared/upstream-finetunebench``) when they are there; after
    ``<!-- sandbox: empty -->`` it is an empty folder. A block that names ``StanfordFineTuneBench``
    without them is skipped, and fails under CI (``CI`` set, as tests/conftest.py does).

    The environment: this Python's ``pytest``, ``ftb`` and ``python`` first on ``PATH``, the
    checkout's ``src`` on ``PYTHONPATH``, ``OPENAI_BASE_URL`` as the shipped cassettes were recorded
    with (``cassettes/shipped.json``), no API keys and none of the running session's ``PYTEST_*``
    variables. ``pytest`` is a wrapper that adds ``--ftb-limit=1 --ftb-epochs=1`` to a run that
    would train the embedded model (a small limit: seconds of training, not minutes) and counts
    exit status 1 (wrong answers fail items) as success.
    """

    def __init__(self, workdir: Path, root: Path = ROOT, shared: Path = SHARED, timeout: float = 300) -> None:
        self.workdir, self.root, self.shared, self.timeout = workdir, root, shared, timeout

    def __call__(self, example: Example) -> str | None:
        import pytest

        source = str(example.parsed)
        if example.region.lexemes["language"].strip() == "console":
            source = "".join(line[2:] + "\n" for line in source.splitlines() if line.startswith("$ "))
        if "StanfordFineTuneBench" in source and not self.shared.is_dir():
            reason = f"the paper's published answers are not at {self.shared}"
            if os.environ.get("CI", "").lower() not in ("", "0", "false"):
                return f"{where(example)}: {reason}; fix: clone them there (CI must run this block)"
            pytest.skip(reason)
        folder = self.sandbox(example.namespace.pop("sandbox", "checkout"), example.line)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", source],
            cwd=folder,
            env=self.environment(folder),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=self.timeout,
        )
        example.namespace["printed"] = done.stdout
        if done.returncode:
            tail = "\n".join(done.stdout.splitlines()[-40:])
            return f"{where(example)}: the block exited with status {done.returncode}; its output ends:\n{tail}"
        return None

    def sandbox(self, kind: str, line: int) -> Path:
        folder = self.workdir / f"block-{line}"
        folder.mkdir(parents=True)
        if kind == "checkout":
            for name in ("conftest.py", "pyproject.toml"):
                shutil.copy(self.root / name, folder / name)
            for name in ("cases", "cassettes"):
                shutil.copytree(self.root / name, folder / name)
            if self.shared.is_dir():
                (folder / "StanfordFineTuneBench").symlink_to(self.shared)
        elif kind != "empty":
            raise ValueError(f"unknown sandbox {kind!r}: checkout (the default) or empty")
        return folder

    def environment(self, folder: Path) -> dict[str, str]:
        bin_dir = folder.parent / "bin"
        if not bin_dir.exists():
            bin_dir.mkdir()
            wrapper = bin_dir / "pytest"
            wrapper.write_text(WRAPPER.format(python=sys.executable))
            wrapper.chmod(0o755)
        env = {k: v for k, v in os.environ.items() if not k.startswith(SKIPPED_VARIABLES)}
        shipped = json.loads((self.root / "cassettes" / "shipped.json").read_text(encoding="utf-8"))
        env.update(
            PATH=os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), env.get("PATH", "")]),
            PYTHONPATH=os.pathsep.join([str(self.root / "src"), *filter(None, [env.get("PYTHONPATH")])]),
            OPENAI_BASE_URL=shipped["base_url"],
        )
        return env


def where(example: Example) -> str:
    """``file:line`` of an example, the file relative to the documents' root."""
    return f"{relative(Path(example.path))}:{example.line}"


def relative(path: Path) -> str:
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return path.name


def sybil(workdir: Path) -> Sybil:
    """The Sybil that parses the documentation: skip and sandbox markers, and every fenced block."""
    return Sybil(
        parsers=[SkipParser(), SandboxParser(), OutputParser(), BlockParser(ShellEvaluator(workdir))], path=str(ROOT)
    )


@dataclass
class Block:
    """One fenced block and the markers right before it (after the previous block)."""

    path: Path
    index: int  # the block's place among its document's examples
    line: int
    language: str
    skip: str | None  # the skip marker's argument (a quoted reason; "" for none), None without a marker
    markers: int  # how many marker examples precede it
    output: bool = False  # an output marker: compared with what the block before it prints

    @property
    def id(self) -> str:
        return f"{relative(self.path)}:{self.line}"


def blocks(path: Path, parser: Sybil | None = None) -> list[Block]:
    """The fenced blocks of one document, each with the skip marker before it."""
    examples = list((parser or sybil(Path("unused"))).parse(path))
    found, markers, skip, output = [], 0, None, False
    for index, example in enumerate(examples):
        if isinstance(example.parsed, tuple):  # a skip marker: (action, reason)
            skip = (example.parsed[1] or "") if example.parsed[0] == "next" else skip
            markers += 1
        elif example.region.evaluator in (SandboxParser.evaluate, OutputParser.evaluate):
            output = output or example.region.evaluator is OutputParser.evaluate
            markers += 1
        else:
            language = example.region.lexemes["language"].strip()
            found.append(Block(path, index, example.line, language, skip, markers, output))
            markers, skip, output = 0, None, False
    if path == ROOT / "README.md" and found and found[0].skip is None:
        found[0] = replace(found[0], skip=TWO_COMMANDS)
    return found


def run(block: Block, workdir: Path) -> None:
    """Evaluate ``block`` as Sybil would in document order: its markers first, then the block (a
    skip marker raises unittest.SkipTest with its reason, which pytest reports as a skip). An
    output block runs the block before it first, and is compared with what that printed."""
    if block.skip == TWO_COMMANDS:
        pytest.skip(ast.literal_eval(TWO_COMMANDS))
    examples = list(sybil(workdir).parse(block.path))
    chosen = examples[block.index - block.markers : block.index + 1]
    if block.output:  # the shell block before it, with its markers, first
        shells = [other for other in blocks(block.path) if other.index < block.index and other.language in SHELL]
        if shells:
            chosen = examples[shells[-1].index - shells[-1].markers : shells[-1].index + 1] + chosen
    for example in chosen:
        example.evaluate()


def marker_problems(found: list[Block]) -> list[str]:
    """One line per skip marker that gives no reason: a marked block must say why it cannot run."""
    problems = []
    for block in found:
        if block.skip is None:
            continue
        try:
            reason = ast.literal_eval(block.skip.strip())
        except (ValueError, SyntaxError):
            reason = None
        if not isinstance(reason, str) or not reason.strip():
            problems.append(
                f"{block.id}: the skip marker before this {block.language or 'plain'} block gives no reason;"
                ' fix: <!-- skip: next "why it cannot run" -->'
            )
    return problems


def fences(path: Path) -> list[int]:
    """The lines of the fenced blocks markdown-it-py finds (1-based), to check Sybil found each."""
    return [
        token.map[0] + 1 for token in MarkdownIt("commonmark").parse(path.read_text("utf-8")) if token.type == "fence"
    ]


def summary(root: Path = ROOT) -> list[str]:
    """One line per document with blocks, and a total: how many run and how many are marked."""
    lines, run_total, marked_total = [], 0, 0
    for path in documents(root):
        found = blocks(path)
        marked = sum(block.skip is not None for block in found)
        if found:
            lines.append(f"{path.relative_to(root).as_posix()}: {len(found) - marked} run, {marked} marked")
        run_total, marked_total = run_total + len(found) - marked, marked_total + marked
    lines.append(f"all: {run_total} run, {marked_total} marked, {run_total + marked_total} blocks")
    return lines


# -- the links ----------------------------------------------------------------------------------


def slug(text: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation other than ``-`` and ``_`` dropped,
    spaces as ``-``."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> list[str]:
    """The anchors of a Markdown file's headings, a repeated one numbered as GitHub does (``-1``...)."""
    tokens = MarkdownIt("commonmark").enable("table").parse(path.read_text("utf-8"))
    seen: dict[str, int] = {}
    found = []
    for opening, inline in zip(tokens, tokens[1:]):
        if opening.type == "heading_open":
            text = "".join(child.content for child in inline.children or [] if child.type in ("text", "code_inline"))
            base = slug(text)
            found.append(base if base not in seen else f"{base}-{seen[base]}")
            seen[base] = seen.get(base, 0) + 1
    return found


def links(path: Path) -> Iterator[tuple[int, str]]:
    """``(line, target)`` of every link and image in a Markdown file."""
    line = 1
    for token in MarkdownIt("commonmark").enable("table").parse(path.read_text("utf-8")):
        if token.map:
            line = token.map[0] + 1
        if token.type != "inline":
            continue
        offset = 0
        for child in token.children or []:
            if child.type in ("softbreak", "hardbreak"):
                offset += 1
            elif child.type in ("link_open", "image"):
                yield line + offset, str(child.attrs.get("href") or child.attrs.get("src"))


def broken_links(root: Path = ROOT, paths: list[Path] | None = None) -> list[str]:
    """One line per relative link or ``#anchor`` that does not resolve, ``file:line: ...; fix: ...``."""
    problems = []
    for path in paths or documents(root):
        name = path.relative_to(root).as_posix()
        for line, target in links(path):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                problems.append(f"{name}:{line}: link to {target}: no such file; fix: point it at an existing file")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                where_ = "this file" if linked == path else file_part
                problems.append(
                    f"{name}:{line}: link to {target}: no heading in {where_} has the anchor #{anchor};"
                    f" fix: use one of {', '.join('#' + a for a in anchors(linked))}"
                )
    return problems


if __name__ == "__main__":
    print("\n".join(summary()))
