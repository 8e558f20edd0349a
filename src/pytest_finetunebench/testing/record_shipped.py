"""Re-make the shipped cassettes (``cassettes/openai/...``) against the in-repo OpenAI emulator.

    python -m pytest_finetunebench.testing.record_shipped            # from the repository root

It starts the emulator on a fixed local port (the tuning key, and so every request, includes
the base URL), records ``cassettes/cases/emulator_towns.yaml`` for one OpenAI model (tuned, base
and in-context stages) with ``--ftb-record-mode=all`` into ``cassettes/``, labels every cassette
as an emulator recording, and writes ``cassettes/shipped.json``: the base URL, the pytest
arguments, the outcomes and the JSON report that ``tests/test_cassettes.py`` expects a replay
(no emulator, no key, no network) to reproduce exactly. It also records the shipped suite
(``--ftb-suite=default``) for the same model from an empty folder (``suite`` in the index): the
installed-wheel check in ``.ci/run`` replays it from a folder outside the checkout.

These recordings are a test double's traffic: no model was tuned, nothing was learned.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import record
from ..reporting.results import without_header
from .openai.emulator import OpenAIEmulator
from .together.emulator import TogetherEmulator

NOTE = "recorded against the pytest-finetunebench emulators (OpenAI, Together AI) — not a real model"
MODEL = "gpt-4o-mini-2024-07-18"
ARGS = [
    f"--ftb-model={MODEL}",
    "--ftb-baseline",
    "--ftb-in-context",
    "--ftb-epochs=2",
    "-p",
    "no:randomly",
    "-p",
    "no:xdist",
]
SUITE_ARGS = ["--ftb-suite=default", f"--ftb-model={MODEL}", "-p", "no:randomly", "-p", "no:xdist"]
PORT = 47813
TOGETHER_MODEL = "together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
TOGETHER_ARGS = [
    f"--ftb-model={TOGETHER_MODEL}",
    "--ftb-baseline",
    "--ftb-epochs=2",
    "-p",
    "no:randomly",
    "-p",
    "no:xdist",
]
TOGETHER_PORT = 47814


def _record(
    project: Path, args: list[str], out: Path, base_url: str, provider: str = "OPENAI"
) -> tuple[dict[str, int], dict, str] | None:
    """Run pytest in ``project`` recording into ``out``: its outcomes, its JSON report and its summary line."""
    env = {**os.environ, f"{provider}_BASE_URL": base_url, f"{provider}_API_KEY": "emulator-key-not-a-secret"}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--ftb-record-mode=all",
        f"--ftb-cassettes={out}",
        "--ftb-report=report.json",
        "--ftb-no-save",
        "--ftb-poll-interval=0.02",
        *args,
    ]
    proc = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True)
    sys.stdout.write(proc.stdout[-3000:])
    summary = proc.stdout.strip().splitlines()[-1]
    outcomes = {
        name if name != "error" else "errors": int(n)
        for n, name in re.findall(r"(\d+) (passed|failed|skipped|error)", summary)
    }
    if not outcomes:
        sys.stderr.write(proc.stderr)
        return None
    return outcomes, without_header(json.loads((project / "report.json").read_text())), summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_finetunebench.testing.record_shipped", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--root", type=Path, default=Path.cwd(), help="repository root (holds cassettes/cases/emulator_towns.yaml)"
    )
    parser.add_argument(
        "--port", type=int, default=PORT, help=f"emulator port (default {PORT}; replays must use the same)"
    )
    args = parser.parse_args(argv)
    root = args.root.resolve()
    cases = root / "cassettes" / "cases" / "emulator_towns.yaml"
    out = root / "cassettes"
    shutil.rmtree(out / "openai", ignore_errors=True)
    shutil.rmtree(out / "together", ignore_errors=True)
    with (
        tempfile.TemporaryDirectory(prefix="ftb-shipped-") as tmp,
        OpenAIEmulator(port=args.port, job_polls=2, file_polls=1) as emu,
    ):
        project, suite_project = Path(tmp) / "towns", Path(tmp) / "suite"
        for folder in (project, suite_project):
            folder.mkdir()
            (folder / "pytest.ini").write_text("[pytest]\n")
        shutil.copy(cases, project / "towns.yaml")
        towns = _record(project, ["towns.yaml", *ARGS], out, emu.base_url)
        before = set((out / "openai").rglob("*.json"))
        suite = _record(suite_project, SUITE_ARGS, out, emu.base_url)
        if towns is None or suite is None:
            return 1
        outcomes, report, summary = towns
        base_url = emu.base_url
    with (
        tempfile.TemporaryDirectory(prefix="ftb-shipped-") as tmp,
        TogetherEmulator(port=TOGETHER_PORT, job_polls=2) as temu,
    ):
        project_t = Path(tmp)
        (project_t / "pytest.ini").write_text("[pytest]\n")
        shutil.copy(cases, project_t / "towns.yaml")
        together_run = _record(project_t, ["towns.yaml", *TOGETHER_ARGS], out, temu.base_url, "TOGETHER")
        if together_run is None:
            return 1
        together_base = temu.base_url
    together_cassettes = sorted((out / "together").rglob("*.json"))
    suite_cassettes = sorted(set((out / "openai").rglob("*.json")) - before)
    written = sorted((out / "openai").rglob("*.json")) + together_cassettes
    for path in written:
        data = record.read(path)
        data["recorded_against"] = NOTE
        path.write_bytes(json.dumps(data, indent=1, ensure_ascii=False).encode())
    index = {
        "note": NOTE,
        "base_url": base_url,
        "cases": "cassettes/cases/emulator_towns.yaml",
        "args": ARGS,
        "outcomes": outcomes,
        "cassettes": [
            str(p.relative_to(root)) for p in written if p not in suite_cassettes and p not in together_cassettes
        ],
        "report": report,
        "suite": {
            "args": SUITE_ARGS,
            "outcomes": suite[0],
            "cassettes": [str(p.relative_to(root)) for p in suite_cassettes],
        },
        "together": {
            "base_url": together_base,
            "args": TOGETHER_ARGS,
            "outcomes": together_run[0],
            "report": together_run[1],
            "cassettes": [str(p.relative_to(root)) for p in together_cassettes],
        },
    }
    (out / "shipped.json").write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(written)} cassette(s) and cassettes/shipped.json ({summary})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
