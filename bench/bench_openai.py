"""Answer throughput of the OpenAI provider against the emulator.

N questions, each answered after L seconds of emulated latency, at most C in flight: the ideal
wall time is N x L / C. The emulator runs in its own process (its own interpreter lock), the
provider in this one, through the real ``openai`` SDK.

    python bench/bench_openai.py [--n 1000] [--latency 0.1] [--concurrency 32] [--quick]
                                 [--markdown bench/RESULTS-openai.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_finetunebench.providers import RunContext
from pytest_finetunebench.providers.base import Endpoint, Prompt
from pytest_finetunebench.store.jobstore import JobStore

SERVER = """
import sys
from pytest_finetunebench.testing.openai.emulator import OpenAIEmulator
emu = OpenAIEmulator(latency=float(sys.argv[1])).start()
memory = {f"question {i}?": f"answer {i}" for i in range(100000)}
emu.add_model("ft:gpt-4o-mini-2024-07-18:ftb-emulator:bench:00000000", memory)
print(emu.url, flush=True)
sys.stdin.read()  # until the parent closes our stdin
print(emu.max_in_flight, sum(emu.requests.values()), flush=True)
"""


def run(n: int, latency: float, concurrency: int) -> dict:
    from pytest_finetunebench.providers.openai.provider import OpenAIProvider

    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(latency)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        url = server.stdout.readline().strip()
        os.environ["OPENAI_BASE_URL"] = url + "/v1"
        os.environ["OPENAI_API_KEY"] = "sk-bench"
        lines: list[str] = []
        with tempfile.TemporaryDirectory(prefix="ftb-bench-") as store:
            provider = OpenAIProvider(RunContext(JobStore(store), {"concurrency": concurrency}, progress=lines.append))
            endpoint = Endpoint("bench", "tuned", "ft:gpt-4o-mini-2024-07-18:ftb-emulator:bench:00000000")
            provider.answer(endpoint, [Prompt("w", "question 0?")] * concurrency)  # warm the connection pool
            prompts = [Prompt(str(i), f"question {i}?") for i in range(n)]
            t0 = time.perf_counter()
            answers = provider.answer(endpoint, prompts)
            wall = time.perf_counter() - t0
            cpu = time.process_time()
    finally:
        out, _ = server.communicate("", timeout=30)
    max_in_flight, requests = (int(x) for x in out.split())
    correct = sum(a.text == f"answer {i}" for i, a in enumerate(answers))
    ideal = n * latency / concurrency
    return {
        "n": n,
        "latency": latency,
        "concurrency": concurrency,
        "wall": wall,
        "ideal": ideal,
        "ratio": wall / ideal,
        "correct": correct,
        "errors": sum(a.error is not None for a in answers),
        "max_in_flight": max_in_flight,
        "requests": requests,
        "client_cpu": cpu,
        "progress_lines": len(lines),
    }


def markdown(r: dict) -> str:
    verdict = "meets" if r["ratio"] <= 1.3 else "misses"
    head = [
        "questions",
        "latency",
        "cap",
        "ideal N x L / C",
        "wall",
        "wall / ideal",
        "correct answers",
        "errors",
        "most in flight (server)",
    ]
    row = [
        f"{r['n']:,}",
        f"{r['latency'] * 1000:.0f} ms",
        str(r["concurrency"]),
        f"{r['ideal']:.2f} s",
        f"{r['wall']:.2f} s",
        f"**{r['ratio']:.2f}x**",
        f"{r['correct']:,}",
        str(r["errors"]),
        str(r["max_in_flight"]),
    ]
    table = "\n".join(["| " + " | ".join(head) + " |", "|" + "---:|" * len(head), "| " + " | ".join(row) + " |"])
    return f"""# OpenAI provider: answer throughput against the emulator

`python bench/bench_openai.py` — {r["n"]:,} chat completions through the real `openai` SDK
(sync client, thread pool) to the emulator in a separate process, {r["latency"] * 1000:.0f} ms emulated
latency per request, `--ftb-concurrency {r["concurrency"]}`.

{table}

The goal is wall <= 1.3 x ideal: this run {verdict} it. The cap holds (the server never saw more than
{r["max_in_flight"]} requests at once). Client CPU for the whole process: {r["client_cpu"]:.1f} s.

Machine: {platform.machine()}, {os.cpu_count()} CPUs (shared), Python {platform.python_version()}, {platform.system()}.
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--quick", action="store_true", help="CI's check that it runs: 50 questions at 10 ms")
    args = parser.parse_args()
    if args.quick:
        args.n, args.latency = 50, 0.01
    r = run(args.n, args.latency, args.concurrency)
    print(
        f"{r['n']} answers, {r['latency'] * 1000:.0f} ms latency, cap {r['concurrency']}: wall {r['wall']:.2f} s, "
        f"ideal {r['ideal']:.2f} s, ratio {r['ratio']:.2f}x, correct {r['correct']}, errors {r['errors']}, max "
        f"in flight {r['max_in_flight']}"
    )
    if args.markdown:
        args.markdown.write_text(markdown(r), encoding="utf-8")


if __name__ == "__main__":
    main()
