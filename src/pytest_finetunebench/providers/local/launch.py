"""Launching a local training as a job of its own, and waiting for it with its progress lines.

One process: ``python -m pytest_finetunebench.train SPEC``. Several on this machine
(``--ftb-nproc=N``): torchrun (``python -m torch.distributed.run --standalone``) starts N of them.
Several machines (``--ftb-launcher``): the user's own launch line, ``{train}`` replaced by the
training command (a script and the spec: :func:`train_script`), e.g. ``srun ... torchrun
--nnodes=2 ... {train}``. The job writes into the
directory the provider holds the key's lock for; the provider publishes it when the job succeeds.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..base import ProviderError

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (elsewhere: nothing)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").prctl(PR_SET_PDEATHSIG, sig)
        except OSError:
            pass


TRAIN = "{train}"
POLL = 0.5


def check_launch(
    nproc: int, launcher: str | None, device_type: str, cores: int, gpus: int, shard: str = "", lora: int = 0
) -> None:
    """One line, before anything is launched, for a launch that cannot work here."""
    if shard and lora:
        raise ProviderError(
            f"--ftb-shard={shard} shards a full fine-tune; LoRA r={lora} adapters train with DDP, each process"
            " holding the model; fix: add --ftb-lora=0, or leave --ftb-shard out"
        )
    if shard and nproc == 1 and launcher is None:
        raise ProviderError(
            f"--ftb-shard={shard} shards the model across processes, and there is one; fix: add --ftb-nproc=N"
            " or --ftb-launcher"
        )
    if launcher is not None and TRAIN not in launcher:
        raise ProviderError(
            f"--ftb-launcher={launcher!r} has no {TRAIN}; fix: put {TRAIN} where the training command goes,"
            f" e.g. 'srun torchrun --nnodes=2 --nproc-per-node=8 ... {TRAIN}'"
        )
    if launcher is None and device_type == "cuda" and nproc > gpus:
        raise ProviderError(f"--ftb-nproc={nproc}: this machine has {gpus} GPU(s); fix: --ftb-nproc={gpus} or fewer")
    if launcher is None and device_type == "cpu" and nproc > cores:
        raise ProviderError(
            f"--ftb-nproc={nproc}: this machine has {cores} CPU core(s) and each process needs one;"
            f" fix: --ftb-nproc={cores} or fewer"
        )


def command(spec: Path, nproc: int, launcher: str | None) -> tuple[list[str] | str, str]:
    """The command that runs the training (a shell line with a launcher) and how it is described."""
    if launcher is not None:
        return launcher.replace(TRAIN, shlex.join([str(train_script(spec.parent)), str(spec)])), "launcher"
    if nproc > 1:
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={nproc}",
            "-m",
            "pytest_finetunebench.train",
            str(spec),
        ], f"torchrun x{nproc}"
    return [sys.executable, "-m", "pytest_finetunebench.train", str(spec)], "process"


def train_script(folder: Path) -> Path:
    """An executable Python script in ``folder`` that runs the training of the spec it is given:
    what ``{train}`` starts, as a program (``srun SCRIPT SPEC``: its ``#!`` line names this Python)
    and as a script (torchrun runs ``python -u SCRIPT SPEC``; an interpreter's path there would be
    read as Python source)."""
    script = folder / "train-job.py"
    script.write_text(
        f"#!{sys.executable}\n"
        '"""The training job of the spec given (pytest-finetunebench, --ftb-launcher)."""\n'
        "from pytest_finetunebench.train import main\n\n"
        "raise SystemExit(main())\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


def run(
    spec: Mapping[str, Any],
    out: Path,
    nproc: int,
    launcher: str | None,
    threads: int | None,
    progress: Callable[[str], None],
) -> tuple[dict[str, Any], str]:
    """Run the training of ``spec`` into ``out``; its stats and how it was launched (a
    :class:`ProviderError` with the job's last words if it fails)."""
    path = out / "spec.json"
    path.write_text(json.dumps({**spec, "out": str(out), "threads": threads}), encoding="utf-8")
    cmd, how = command(path, nproc, launcher)
    env = dict(os.environ)
    if how == "process":  # alone: not a rank of whatever group launched this session (World.join)
        for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
            env.pop(name, None)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)  # torchrun would set 1 per process otherwise
    with open(out / "launch.log", "w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            cmd,
            shell=isinstance(cmd, str),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=die_with_parent if os.name == "posix" else None,
        )
        shown = 0
        try:
            while True:
                done = proc.poll() is not None
                shown = _forward(out / "train.log", shown, progress)
                if done:
                    break
                time.sleep(POLL)
        except BaseException:  # Ctrl-C or a failure here: the job does not outlive the session
            proc.terminate()
            proc.wait()
            raise
    if proc.returncode != 0 or not (out / "stats.json").is_file():
        raise ProviderError(
            f"the training job ({how}) failed with exit status {proc.returncode}: {_last_words(out / 'launch.log')}"
        )
    return json.loads((out / "stats.json").read_text(encoding="utf-8")), how


def _forward(log: Path, shown: int, progress: Callable[[str], None]) -> int:
    """Pass the job's new complete progress lines on; how many lines have been passed on."""
    if not log.is_file():
        return shown
    lines = log.read_text(encoding="utf-8").split("\n")[:-1]  # the last piece may be half written
    for line in lines[shown:]:
        progress(line)
    return len(lines)


def _last_words(log: Path) -> str:
    """The last meaningful line of the job's output: the last exception a rank raised (``[rank1]:
    RuntimeError: ...``), else the last line naming an error (torchrun's own), else the last line."""
    lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    raised = [x for x in lines if re.match(r"^\[?[\w.\]:]*\s*\w+(Error|Exception): ", x) and "ChildFailed" not in x]
    errors = [line for line in lines if "Error" in line or "error" in line]
    return (raised or errors or lines or ["no output"])[-1][:500]
