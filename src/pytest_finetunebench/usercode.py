"""A team's own code (its provider, matcher or recipe) failing: one line with the user's file:line.

The plugin calls code a team registered through its hooks. When that code raises, or returns what
it should not, the line shown names the exception (or the value) and the place in the team's own
file, not the plugin's or pytest's frames around it.
"""

from __future__ import annotations

import inspect
import os
import sys
import sysconfig
import traceback
from pathlib import Path
from types import TracebackType

_PACKAGE = str(Path(__file__).resolve().parent) + os.sep
# installed code (the standard library, site-packages): a team's conftest.py or plugin checkout is neither
_LIBRARIES = tuple(
    str(Path(p).resolve()) + os.sep
    for p in {sysconfig.get_path(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")} | {sys.prefix}
    if p
)


def shown(path: str | Path) -> str:
    """A path as the user would type it: relative to the working directory when under it."""
    absolute = Path(path).resolve()
    here = Path.cwd()
    return os.path.relpath(absolute, here) if absolute.is_relative_to(here) else str(path)


def in_plugin(path: str | Path) -> bool:
    """Whether ``path`` is one of this plugin's own files (not the team's)."""
    return str(Path(path).resolve()).startswith(_PACKAGE)


def location(tb: TracebackType | None) -> str | None:
    """``file:line`` of the innermost frame in the team's own code (not the plugin's, not an
    installed library's), else of the innermost frame outside the plugin; ``None`` if neither."""
    frames = [(str(Path(f.filename).resolve()), f.lineno) for f in traceback.extract_tb(tb)]
    outside = [(f, n) for f, n in frames if not f.startswith(_PACKAGE)]
    own = [(f, n) for f, n in outside if not f.startswith(_LIBRARIES)]
    found = (own or outside or [None])[-1]
    return None if found is None else f"{shown(found[0])}:{found[1]}"


def defined_at(obj: object) -> str:
    """`` (file:line)`` where a function (or a callable object's class) is defined; empty if unknown."""
    try:
        target = inspect.unwrap(obj) if callable(obj) else obj  # type: ignore[arg-type]
        if not (inspect.isfunction(target) or inspect.ismethod(target) or inspect.isclass(target)):
            target = type(target)
        _, line = inspect.getsourcelines(target)  # type: ignore[arg-type]
        return f" ({shown(inspect.getsourcefile(target) or '?')}:{line})"  # type: ignore[arg-type]
    except (TypeError, OSError):
        return ""


def describe(exc: BaseException) -> str:
    """``Type: message (file:line)``: an exception raised in a team's code, as one line."""
    where = location(exc.__traceback__)
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}" + (f" ({where})" if where else "")


def brief(value: object) -> str:
    """A returned value as a message shows it: a plain value with its type and a short repr (``str 'no'``),
    a class by name, anything else by its type (no memory addresses)."""
    if value is None:
        return "None"
    if inspect.isclass(value):
        return f"the class {value.__name__}"
    text = repr(value)
    if isinstance(value, (str, bytes, int, float, list, tuple, dict, set)) and " at 0x" not in text:
        return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"
    name = type(value).__name__
    return f"an {name}" if name[0].lower() in "aeiou" else f"a {name}"
