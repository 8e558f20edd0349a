"""The case suites shipped with the plugin (``--ftb-suite=NAME``): invented, seeded, reproducible.

In a checkout they are the repository's top-level ``cases/`` folder; the wheel ships the same
folder as the package ``pytest_finetunebench.suites`` (``package-dir`` in pyproject.toml). Each
suite is a folder of case files next to this module (``default``: 50 facts for the embedded model
on two CPU cores; ``full``: 350 facts for GPUs and API models). ``README.md`` here says how they
were generated and how to regenerate them byte for byte.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
# ~2,200 tokens of plain general prose written for this project: forgetting by likelihood is the
# change in a local model's mean per-token negative log-likelihood of it after tuning (Δ NLL)
FORGETTING_TEXT = HERE / "forgetting.txt"


def forgetting_text() -> str:
    """The general text whose likelihood measures forgetting (``Δ NLL``)."""
    return FORGETTING_TEXT.read_text(encoding="utf-8")


def available() -> list[str]:
    """The names of the shipped suites."""
    return sorted(p.name for p in HERE.iterdir() if p.is_dir() and any(p.glob("*.yaml")))


def suite_dir(name: str) -> Path:
    """The folder of suite ``name``; a one-line :class:`ValueError` naming the suites there are."""
    if name in available():
        return HERE / name
    raise ValueError(f"--ftb-suite={name}: no such suite; the shipped suites are {', '.join(available())}")
