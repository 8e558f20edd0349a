"""tests/conftest.py imports the libraries that cannot be imported twice before any test can first import them.

The check runs in a pytest of its own (a subprocess), so that what this worker imported already
cannot hide a failure: there, an in-process pytester run is the first to import numpy and
torch.distributed, and later tests of the same process import them again,
once with the conftest as shipped and once with its import call removed (numpy refuses; torch,
re-executed over its own registered operators, raises whatever breaks first).
"""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")
GUARD = "\n_import_once()\n"

FIRST_INSIDE_A_RUN = """
def test_a_run_is_the_first_to_import_them(pytester):
    pytester.makepyfile("def test_inner():\\n    import torch.distributed.tensor\\n    import numpy\\n")
    pytester.runpytest_inprocess("-p", "no:randomly", "-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_numpy_again():
    import numpy


def test_torch_again():
    import torch.distributed.tensor
"""


def run(pytester: pytest.Pytester, conftest: str) -> pytest.RunResult:
    """The three tests above, in this order, in one fresh process with ``conftest`` as its conftest.py."""
    pytester.makeconftest(conftest)
    pytester.makepyfile(test_twice=FIRST_INSIDE_A_RUN)
    return pytester.runpytest_subprocess(
        "-p", "pytester", "-p", "no:randomly", "-p", "no:xdist", "-p", "no:cacheprovider", "--tb=line"
    )


def test_libraries_first_imported_inside_an_in_process_run_import_again(pytester: pytest.Pytester) -> None:
    run(pytester, CONFTEST.read_text(encoding="utf-8")).assert_outcomes(passed=3)


def test_without_the_conftest_import_the_second_import_fails(pytester: pytest.Pytester) -> None:
    shipped = CONFTEST.read_text(encoding="utf-8")
    assert shipped.count(GUARD) == 1
    result = run(pytester, shipped.replace(GUARD, "\n"))
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*/numpy/_core/multiarray.py:11: ImportError: cannot load module more than once per process",
            "*/torch/__init__.py:*: SystemError: *",  # torch's own state, half registered, breaks in its own way
        ]
    )
