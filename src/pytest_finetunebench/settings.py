"""The run's settings: the ``--ftb-*`` options' values in one frozen :data:`Settings` object.

:data:`Settings` is typed from the option table (:mod:`.options`): one field per option (the flag
without its ``--ftb-`` prefix, dashes as underscores), its default the table's, ``int``, ``float``
or ``str`` as the option reads, ``bool`` for a switch, ``list[str]`` for a repeatable one. It
reaches providers as ``RunContext.options`` and also reads as a mapping (``options["seed"]``,
``options.get("seed")``); :func:`setting` gives the table's default where a part of it is given.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import field, make_dataclass
from typing import Any

import pytest

from .options import OPTIONS, Option, dest

_BY_KEY = {opt.name.replace("-", "_"): opt for opt in OPTIONS}


class _ReadsAsMapping(Mapping[str, Any]):
    """:data:`Settings` also reads as a mapping of option name to value (what providers were written against)."""

    def __getitem__(self, key: str) -> Any:
        if key not in _BY_KEY:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(_BY_KEY)

    def __len__(self) -> int:
        return len(_BY_KEY)


def _field(opt: Option) -> tuple[str, Any, Any]:
    key = opt.name.replace("-", "_")
    if opt.multiple:
        return key, list[str], field(default_factory=list)
    if opt.flag:
        return key, bool, field(default=False)
    return key, opt.type | None, field(default=opt.default)


# The run's settings: one frozen object, a field per option, its default the table's.
Settings = make_dataclass("Settings", [_field(opt) for opt in OPTIONS], bases=(_ReadsAsMapping,), frozen=True)
Settings.__module__ = __name__  # pickled by name, like a class written here
_DEFAULTS = Settings()


def setting(values: Mapping[str, Any], name: str) -> Any:
    """``values[name]``, else the option's default from the table: the one place each default is stated.

    ``values`` is :func:`values`'s output or a part of it (a provider built in a test, say).
    """
    value = values.get(name)
    return getattr(_DEFAULTS, name) if value is None else value


def values(config: pytest.Config) -> Any:
    """The :data:`Settings` of this run: each option's flag, else ini, else default; multiples split on commas."""
    out: dict[str, Any] = {}
    for opt in OPTIONS:
        key = opt.name.replace("-", "_")
        value = config.getoption(dest(opt))
        if opt.ini and value in (None, []):
            ini = config.getini(dest(opt))
            value = ini if ini not in ("", []) else None
            if value is not None and not opt.multiple and opt.type is not str:
                try:
                    value = opt.type(value)
                except ValueError:
                    raise pytest.UsageError(
                        f"ini option {dest(opt)} = {value!r} is not a {opt.type.__name__}; fix the value in "
                        f"{config.inipath}"
                    ) from None
        if opt.choices and value is not None and value not in opt.choices:
            raise pytest.UsageError(f"--ftb-{opt.name}={value}: use one of {', '.join(opt.choices)}")
        if opt.minimum is not None and value is not None and value < opt.minimum:
            raise pytest.UsageError(f"--ftb-{opt.name}={value}: must be at least {opt.minimum:g}")
        if opt.multiple:
            items = value or []
            value = [part.strip() for item in items for part in str(item).split(",") if part.strip()]
        elif value is None:
            value = opt.default
        out[key] = value
    return Settings(**out)
