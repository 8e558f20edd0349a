"""YAML text -> a tree of mappings and lists that remember their lines, within bounds.

Case files are read with libyaml's C composer, resolving only booleans and null (numbers, dates
and times stay the text they were written as). Hostile or runaway files cost one error line, in
well under a second: a file over :data:`MAX_FILE_BYTES`, nesting deeper than :data:`MAX_DEPTH`,
aliases that would expand to more than :data:`MAX_VALUES` values (aliases are built once and
shared, never expanded), bytes that are not UTF-8, an exhausted stack or memory.
:func:`read_tree` raises :class:`TreeError` with the line and the message.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import yaml

try:  # the C loader is 5-10x faster on large suites
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - pyyaml built without libyaml
    _BaseLoader = yaml.SafeLoader


class Map(dict):
    """A mapping that remembers the line of itself and of each key."""

    line: int
    key_lines: dict[str, int]


class Seq(list):
    """A list that remembers the line of each item."""

    lines: list[int]


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int, first: int) -> None:
        super().__init__(key)
        self.key, self.line, self.first = key, line, first


class _Composer(_BaseLoader):  # type: ignore[misc, valid-type]
    """The C-accelerated parser and composer, resolving only booleans and null.

    Numbers, dates and times stay the text they were written as (``0123`` is not 83, ``12:30``
    is not 750), so a bare Yes/No is the only scalar that is not text and can be refused clearly.
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag.endswith((":bool", ":null"))]
        for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
    }


_BOOL, _NULL = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"
_IN_PROGRESS = object()

# Limits on hostile or runaway files; each is one error line, reached in well under a second.
MAX_FILE_BYTES = 16 * 2**20  # a case file larger than 16 MiB is refused unread
MAX_DEPTH = 64  # mappings and lists nested deeper than this (a case file needs about 6)
MAX_VALUES = 1_000_000  # values in the file with every alias expanded ("billion laughs")


class _BadNode(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


class _Builder:
    """Python data from a composed node; mappings and lists remember their lines.

    An alias is the node it names: built once and shared, so it costs nothing extra to build.
    Its *expanded* size is still counted against :data:`MAX_VALUES`, so no later message or repr
    can be made to expand an alias bomb; an alias inside its own anchor is refused.
    """

    def __init__(self) -> None:
        self.memo: dict[int, Any] = {}
        self.sizes: dict[int, int] = {}  # expanded value count of each built collection
        self.total = 0

    def build(self, node: yaml.Node, depth: int = 0, used_at: int = 1) -> Any:
        """Build ``node``; ``used_at`` is the line of its parent, where an alias to it is written."""
        line = node.start_mark.line + 1
        if depth > MAX_DEPTH:
            raise _BadNode(line, f"values nested deeper than {MAX_DEPTH} levels; fix: flatten the structure")
        key = id(node)
        if key in self.memo:  # an alias: the anchored node itself, so report the line that uses it
            if self.memo[key] is _IN_PROGRESS:
                raise _BadNode(used_at, "an alias refers to itself; fix: remove the recursive alias")
            self._count(self.sizes.get(key, 1), used_at)
            return self.memo[key]
        if isinstance(node, yaml.ScalarNode):
            self._count(1, line)
            return self._scalar(node)
        self.memo[key] = _IN_PROGRESS
        before = self.total
        if isinstance(node, yaml.SequenceNode):
            result: Any = Seq(self.build(child, depth + 1, line) for child in node.value)
            result.lines = [child.start_mark.line + 1 for child in node.value]
        else:
            result = self._mapping(node, depth)
        self._count(1, line)
        self.memo[key], self.sizes[key] = result, self.total - before
        return result

    def _count(self, n: int, line: int) -> None:
        self.total += n
        if self.total > MAX_VALUES:
            raise _BadNode(
                line,
                f"aliases expand to more than {MAX_VALUES:,} values; fix: write the data out without nested aliases",
            )

    @staticmethod
    def _scalar(node: yaml.ScalarNode) -> Any:
        if node.tag == _BOOL:
            value = yaml.constructor.SafeConstructor.bool_values.get(node.value.lower())
            if value is None:
                raise _BadNode(
                    node.start_mark.line + 1, f"`{clip(node.value)}` is not a boolean; fix: quote it as text"
                )
            return value
        return None if node.tag == _NULL else node.value

    def _mapping(self, node: yaml.MappingNode, depth: int) -> Map:
        result = Map()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                key_text = clip(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "[...]"
                raise _BadNode(line, f"key `{key_text}` is not a name; fix: use a plain field name")
            if key_node.value == "<<":
                raise _BadNode(line, "merge keys (<<) are not supported; fix: write the fields out")
            key = key_node.value
            if key in result:
                raise _DuplicateKey(clip(key), line, result.key_lines[key])
            result[key] = self.build(value_node, depth + 1, line)
            result.key_lines[key] = line
        return result


def clip(text: str, limit: int = 60) -> str:
    """Text from the file as an error message shows it: one line, at most ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class TreeError(Exception):
    """Why a file is no usable YAML tree: the line and a one-line message with the fix."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise TreeError(line, f"byte 0x{raw[exc.start]:02x} is not UTF-8; fix: save the file as UTF-8 text") from None


def read_tree(path: Path) -> Any:
    """The file's YAML as a tree (``None`` for an empty file); :class:`TreeError` on any problem."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise TreeError(
                1,
                f"the file has {size:,} bytes, over the {MAX_FILE_BYTES:,} a case file may have; fix: split it into "
                "several files",
            )
        text = _decode(path.read_bytes())
    except OSError as exc:
        if path.is_dir():
            why = "it is a folder"
        elif path.is_symlink() and not path.exists():
            why = f"a symlink to {os.readlink(path)}, which {'loops' if exc.errno == errno.ELOOP else 'does not exist'}"
        else:
            why = exc.strerror or str(exc)
        raise TreeError(
            1, f"cannot read the file ({why}); fix: make it a readable file, or move it out of the case folders"
        ) from None
    try:
        node = yaml.compose(text, Loader=_Composer)
        data = None if node is None else _Builder().build(node)
    except _BadNode as exc:
        raise TreeError(exc.line, exc.message) from None
    except _DuplicateKey as exc:
        raise TreeError(exc.line, f"`{exc.key}` is given twice (first at line {exc.first}); fix: keep one") from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        if "nesting depth" in (exc.problem or ""):  # libyaml's own limit, below ours for flow collections
            raise TreeError(line, f"values nested deeper than {MAX_DEPTH} levels; fix: flatten the structure") from None
        raise TreeError(line, f"invalid YAML ({exc.problem}); fix the syntax at this line") from None
    except yaml.YAMLError as exc:  # e.g. a control character the reader refuses
        line = getattr(exc, "position", None)
        where = text.count("\n", 0, line) + 1 if isinstance(line, int) else 1
        reason = clip(str(exc).splitlines()[0], 100)
        raise TreeError(where, f"unreadable YAML ({reason}); fix: remove the offending character") from None
    except (RecursionError, MemoryError) as exc:
        raise TreeError(
            1, f"the YAML is too large or too deep to load ({type(exc).__name__}); fix: simplify the file"
        ) from None
    return data


def show(value: Any) -> str:
    """A value from the file inside an error message: clipped text, or what kind of thing it is."""
    return clip(value) if isinstance(value, str) else kind_of(value)


def kind_of(value: Any) -> str:
    """What a YAML value is, in the words of the file (for error messages)."""
    if isinstance(value, bool):
        return "a boolean (bare yes/no/true/false)"
    return "a mapping" if isinstance(value, dict) else "a list" if isinstance(value, list) else "nothing"
