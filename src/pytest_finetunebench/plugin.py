"""pytest hooks: wire collection, tuning, answering, grading and reporting together."""

from __future__ import annotations

import pytest

from . import options


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)
