"""Training inside someone else's loop: a ``transformers`` ``TrainerCallback`` that asks the suite after each epoch.

Usable with any ``transformers.Trainer``, TRL's ``SFTTrainer`` included::

    from pytest_finetunebench.callback import FineTuneBenchCallback

    trainer = SFTTrainer(..., callbacks=[FineTuneBenchCallback("ftb-epochs", ["--ftb-suite=default"],
                                                               trained_on="ftb export of the default suite")])

After each epoch the model (and its tokenizer) is saved to ``OUT/epoch-N/`` and the suite is asked
of it by a pytest run of its own (the answer-only form: ``--ftb-model=local:OUT/epoch-N
--ftb-tuned-elsewhere=...``), graded by the plugin's own rules. The epochs so far are written as one
run, the same files a pytest run writes: ``OUT/run.json`` (a saved run: ``ftb html``,
``--ftb-compare``), ``OUT/report.md`` and ``OUT/report.html`` with the per-epoch curves (the
model is ``label``, each epoch its ``epoch:N`` stage). Only the main process (rank 0) asks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from .grading.outcome import Record
from .items import epoch_stage
from .reporting import html, runs
from .reporting.report import Summary
from .store.jobstore import atomic_write


class FineTuneBenchCallback(TrainerCallback):
    """Ask the suite's questions of the model at the end of each epoch; write the run's JSON, Markdown and HTML."""

    def __init__(
        self,
        out: str | Path,
        pytest_args: Sequence[str] = ("--ftb-suite=default",),
        *,
        label: str = "trainer",
        trained_on: str = "a trainer's loop (FineTuneBenchCallback)",
    ) -> None:
        self.out, self.pytest_args = Path(out), list(pytest_args)
        self.label, self.trained_on = label, trained_on
        self.records: list[Record] = []
        self.lines: list[str] = []  # each epoch's pytest summary line

    def on_epoch_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or model is None:
            return
        epoch = round(state.epoch or 0)
        folder = self.out / f"epoch-{epoch}"
        model.save_pretrained(folder)
        tokenizer = kwargs.get("processing_class") or kwargs.get("tokenizer")
        if tokenizer is not None:
            tokenizer.save_pretrained(folder)
        report = self.out / f"epoch-{epoch}.json"
        command = [
            sys.executable,
            "-m",
            "pytest",
            f"--ftb-model=local:{folder.resolve()}",
            f"--ftb-tuned-elsewhere={self.trained_on}",
            f"--ftb-report={report.resolve()}",
            "--ftb-no-save",
            "-p",
            "no:randomly",
            "-p",
            "no:xdist",
            "--tb=no",
            "-q",
            *self.pytest_args,
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if not report.is_file():  # a usage error: no items were asked
            raise RuntimeError(f"epoch {epoch}: the benchmark did not run: {(done.stderr or done.stdout).strip()}")
        self.lines.append((done.stdout.strip().splitlines() or [""])[-1])
        items = json.loads(report.read_text(encoding="utf-8"))["items"]
        stage = epoch_stage(epoch)
        self.records += [Record.from_item({**i, "model": self.label, "stage": stage}) for i in items]
        self.write()

    def write(self) -> None:
        """The epochs so far as one run: ``run.json``, ``report.md`` and ``report.html`` in :attr:`out`."""
        summary = Summary(self.records)
        options = {"tuned_elsewhere": self.trained_on}
        run = runs.run_data(summary, options, providers={self.label: "local"}, case_files={}, rootdir=self.out)
        atomic_write(self.out / "run.json", json.dumps(run, indent=2, ensure_ascii=False).encode())
        atomic_write(self.out / "report.md", summary.markdown().encode())
        atomic_write(self.out / "report.html", html.render(run).encode())
