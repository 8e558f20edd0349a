"""Every ``--ftb-*`` flag in one table, registered on pytest's parser.

:mod:`.settings` reads their values into one frozen, typed object. Options with ``ini=True`` can
also be set in the ``[pytest]`` ini section as ``ftb_<name>``; the flag wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class Option:
    """One ``--ftb-<name>`` flag."""

    name: str
    help: str
    type: Any = str
    default: Any = None
    multiple: bool = False  # repeatable and comma-separated
    flag: bool = False  # a boolean switch
    ini: bool = False
    metavar: str | None = None
    minimum: float | None = None  # smallest value allowed (a usage error below it)
    const: Any = None  # the value may be left out (``--ftb-x`` alone gives ``const``)
    choices: tuple[str, ...] = ()  # the values allowed (a usage error otherwise)


OPTIONS: tuple[Option, ...] = (
    # what to run
    Option(
        "model",
        "model to tune and evaluate, as the provider spells it (repeatable, comma-separated); default: ini ftb_model "
        "or local:smollm2-135m",
        multiple=True,
        ini=True,
        metavar="NAME",
    ),
    Option(
        "cases",
        "case file or directory to collect (repeatable); default: ini ftb_cases or cases/",
        multiple=True,
        ini=True,
        metavar="PATH",
    ),
    Option(
        "suite",
        "a case suite shipped with the plugin, from any directory: default (50 facts, the embedded model) or full "
        "(350 facts); repeatable, comma-separated",
        multiple=True,
        ini=True,
        metavar="NAME",
    ),
    Option("split", "only these splits (repeatable, comma-separated), e.g. rephrased", multiple=True, metavar="SPLIT"),
    Option("dataset", "only these datasets (repeatable, comma-separated)", multiple=True, metavar="NAME"),
    Option("limit", "smoke run: only the first N cases of each dataset, in file order", type=int, metavar="N"),
    Option(
        "store", "job store directory for tuned models, ledgers and saved runs; default .ftb", ini=True, metavar="DIR"
    ),
    # tuning
    Option(
        "epochs",
        "training epochs; several (e.g. 1,3,10) evaluate the checkpoint after each",
        ini=True,
        metavar="N[,N...]",
    ),
    Option(
        "learning-rate",
        "local models: the learning rate (API providers refuse it: see --ftb-learning-rate-multiplier)",
        type=float,
        ini=True,
        metavar="LR",
    ),
    Option(
        "learning-rate-multiplier",
        "API providers (OpenAI, Vertex AI): multiply the service's default learning rate by M (local models refuse "
        "it: see --ftb-learning-rate)",
        type=float,
        ini=True,
        metavar="M",
    ),
    Option("batch-size", "training batch size", type=int, ini=True, metavar="N", minimum=1),
    Option("seed", "seed for training and sampling", type=int, default=0, ini=True, metavar="N"),
    Option(
        "seeds",
        "train every tuned model K times, with seeds --ftb-seed .. --ftb-seed+K-1 (each its own job, key and "
        "weights; untuned stages are asked once): reports give the mean over trainings, the seed-to-seed SD and "
        "intervals that include training variance",
        type=int,
        default=1,
        ini=True,
        metavar="K",
        minimum=1,
    ),
    Option(
        "recipe",
        "how the training set is built (repeatable, comma-separated; each its own tuned model, reported as "
        "MODEL+RECIPE): qa (default: question -> answer), paraphrase:K (plus K training phrasings per fact from "
        "the case's `train:`), document (the case's `fact` as the answer to \"what do you know about "
        '<subject>"), qa+document, qa+replay (plus 16 general-knowledge yes/no pairs that keep the yes/no form)',
        multiple=True,
        ini=True,
        metavar="RECIPE",
    ),
    Option("baseline", "also evaluate each model untuned, to show before -> after", flag=True),
    Option(
        "in-context",
        "also evaluate each model untuned with the case's facts in the prompt (the upper bound tuning is measured "
        "against)",
        flag=True,
    ),
    Option(
        "tuned-elsewhere",
        "answer-only: every --ftb-model was tuned elsewhere (TRL, Axolotl, a platform ...) and is only asked, never "
        "tuned here; WHAT is what it was trained on, as you declare it (text, or the manifest.json `ftb export` "
        "wrote, which is checked against the selected cases); the report says so",
        metavar="WHAT",
    ),
    Option(
        "base-model",
        "with --ftb-tuned-elsewhere: the untuned model it was tuned from, served the same way (e.g. "
        "openai:smollm2-135m, local:smollm2-135m); asked for the base, in-context and retention stages",
        ini=True,
        metavar="NAME",
    ),
    # answering
    Option("responses", "replay published answers: a directory of *_w_responses.csv files (no tuning)", metavar="DIR"),
    Option("max-new-tokens", "longest answer to generate", type=int, default=32, ini=True, metavar="N", minimum=1),
    Option(
        "scoring",
        "how closed questions are answered: generate (default), likelihood (yes/no by the log-likelihood of Yes vs "
        "No, date-changed by the decline vs the trained value; local models; OpenAI models score yes/no by the "
        "first token's logprobs), or both as separate stages (generate,likelihood)",
        multiple=True,
        ini=True,
        metavar="generate|likelihood",
    ),
    # grading
    Option(
        "judge",
        "also have MODEL (untuned; any model this plugin answers with) judge every answer from question, gold and "
        "answer; the report shows its accuracy and agreement beside the rule grader's",
        ini=True,
        metavar="MODEL",
    ),
    Option(
        "grader",
        "whose verdict counts: rules (default, grade.py) or judge (needs --ftb-judge; a missing judge verdict is a "
        "run error)",
        ini=True,
        metavar="rules|judge",
    ),
    # reporting and gating
    Option("report", "write every item and the aggregates as JSON", metavar="PATH"),
    Option("markdown", "write the accuracy tables as Markdown", metavar="PATH"),
    Option(
        "html",
        "write one self-contained HTML page of the run (tables, plots, every item with filters; flips with "
        "--ftb-compare)",
        ini=True,
        metavar="PATH",
    ),
    Option(
        "fail-under",
        "gate: exit status from thresholds alone, e.g. memorization:0.9,generalization:0.3 (splits too)",
        ini=True,
        metavar="SPEC",
    ),
    Option(
        "no-save", "do not save this run under <store>/runs (every run with results is saved by default)", flag=True
    ),
    Option(
        "compare",
        "print accuracy deltas against a saved run: its number N, a saved-run JSON PATH, or nothing for the previous "
        "run (write --ftb-compare=N)",
        metavar="N|PATH",
        const="previous",
    ),
    Option(
        "compare-fail",
        "gate: fail when accuracy dropped by more than this since the compared run (default: the previous), e.g. "
        "generalization:5%,memorization:0.02 (splits too); SCOPE:DROP@ALPHA fails only when a one-sided paired "
        "test finds the drop larger than DROP at ALPHA, Holm-adjusted over every such test",
        ini=True,
        metavar="SPEC",
    ),
    Option(
        "plot",
        "write PNG plots (accuracy per split with 95% intervals; accuracy vs epochs for a sweep) into DIR; needs "
        "pytest-finetunebench[plot]",
        metavar="DIR",
    ),
    # API providers (openai)
    Option(
        "concurrency",
        "API providers: most answer requests in flight at once",
        type=int,
        default=16,
        ini=True,
        metavar="N",
        minimum=1,
    ),
    Option("temperature", "sampling temperature for answers", type=float, default=0.0, ini=True, metavar="T"),
    Option(
        "api-retries",
        "API providers: retries of a failed answer request (429 waits out retry-after) before the item records the "
        "API's error",
        type=int,
        default=8,
        ini=True,
        metavar="N",
        minimum=0,
    ),
    Option(
        "max-cost",
        "API providers: refuse to launch a tuning job whose estimated training cost exceeds USD",
        type=float,
        ini=True,
        metavar="USD",
        minimum=0,
    ),
    Option(
        "price",
        "training price in USD per 1M training tokens, overriding the built-in table, e.g. "
        "gpt-4o-mini-2024-07-18:3.00 (repeatable, comma-separated)",
        multiple=True,
        ini=True,
        metavar="MODEL:USD",
    ),
    Option(
        "dry-run",
        "API providers: show what would be uploaded and launched and its estimated cost; launch nothing, answer "
        "nothing",
        flag=True,
    ),
    Option(
        "job-timeout",
        "API providers: stop waiting for a tuning job after this many seconds (the job keeps running; a rerun "
        "resumes it); default 21600",
        type=float,
        default=21600.0,
        ini=True,
        metavar="SECONDS",
        minimum=1,
    ),
    Option(
        "poll-interval",
        "API providers: first delay between job status polls, backing off to 60; default 10",
        type=float,
        default=10.0,
        ini=True,
        metavar="SECONDS",
        minimum=0,
    ),
    # Gemini (Vertex AI)
    Option(
        "gcp-project",
        "Gemini: the Google Cloud project to tune and answer in; default GOOGLE_CLOUD_PROJECT",
        ini=True,
        metavar="PROJECT",
    ),
    Option(
        "gcp-location",
        "Gemini: the Vertex AI region, e.g. us-central1; default GOOGLE_CLOUD_LOCATION",
        ini=True,
        metavar="REGION",
    ),
    Option(
        "gcs-bucket",
        "Gemini: Cloud Storage bucket (and optional prefix) the training JSONL is uploaded to",
        ini=True,
        metavar="BUCKET[/PREFIX]",
    ),
    Option(
        "gcs-training-uri",
        "Gemini: tune on this training JSONL already in Cloud Storage (no upload; it must hold the run's training set)",
        metavar="gs://...",
    ),
    Option(
        "adapter-size",
        "Gemini: LoRA adapter size (1, 2, 4, 8, 16 or 32); default Vertex AI's",
        type=int,
        ini=True,
        metavar="N",
        minimum=1,
    ),
    # cassettes: record a real run once, replay it in CI without keys or network (record/)
    Option(
        "record-mode",
        "HTTP providers: none (default: replay cassettes; a missing one is an error), once (record missing "
        "cassettes), new_episodes (replay, record what is missing), all (re-record everything), off (live, no "
        "cassettes)",
        ini=True,
        metavar="MODE",
    ),
    Option(
        "cassettes",
        "cassette directory (one cassette per tuned model: <provider>/<model>/<key>.json, gzipped in place when "
        "large); default <rootdir>/cassettes",
        ini=True,
        metavar="DIR",
    ),
    # local models (providers/local/)
    Option(
        "lora",
        "local models: LoRA rank R of the adapters trained and merged into the saved model (default 16: memorizes as "
        "well as a full fine-tune and keeps more of the yes/no form); 0 for a full fine-tune. Together AI: LoRA "
        "rank R, 0 for a full fine-tune (default: Together's)",
        type=int,
        ini=True,
        metavar="R",
        minimum=0,
    ),
    Option(
        "device", "local models: cpu, cuda, mps or auto (default: cuda, then mps, then cpu)", ini=True, metavar="DEVICE"
    ),
    Option(
        "nproc",
        "local models: train in N processes on this machine through torchrun (DDP; one per GPU on CUDA, gloo on a "
        "CPU with the cores shared out); the global batch stays the recipe's whatever N is; default 1",
        type=int,
        default=1,
        ini=True,
        metavar="N",
        minimum=1,
    ),
    Option(
        "launcher",
        "local models: your own launch line for training on several nodes, {train} standing for the training "
        "command, e.g. 'srun --nodes=2 torchrun --nnodes=2 --nproc-per-node=8 --rdzv-backend=c10d "
        "--rdzv-endpoint=$HEAD:29500 {train}' (the job store must be on a filesystem every node sees)",
        ini=True,
        metavar="LINE",
    ),
    Option(
        "shard",
        "local models: fsdp shards a full fine-tune (--ftb-lora=0) across the processes with FSDP2 (fully_shard), "
        "for models one device cannot hold; default: each process holds the whole model (DDP)",
        ini=True,
        metavar="fsdp",
        choices=("fsdp",),
    ),
    Option(
        "precision",
        "local models: the precision to train in (and to answer in on a GPU; a CPU answers in fp32): auto "
        "(default: bf16 autocast on CUDA with bf16 and on CPUs with AMX, else fp32), fp32 or bf16 (runs on any "
        "CPU, slowly without AMX); part of the tuned model's key. Likelihood scores are always computed in fp32",
        ini=True,
        metavar="auto|fp32|bf16",
        choices=("auto", "fp32", "bf16"),
    ),
    Option(
        "compile",
        "local models: train through torch.compile (inductor), a decoder layer at a time: faster steps after a "
        "first step that compiles (about a minute on 2 CPU cores, cached on disk), so it pays on longer trainings; "
        "part of the tuned model's key",
        flag=True,
    ),
    Option(
        "threads",
        "local models on CPU: torch threads (default: training times 1 and all its cores, and keeps the faster; "
        "shared out among pytest-xdist workers)",
        type=int,
        ini=True,
        metavar="N",
        minimum=1,
    ),
)


def dest(option: Option) -> str:
    """The attribute name on ``config.option``."""
    return "ftb_" + option.name.replace("-", "_")


def add_options(parser: pytest.Parser) -> None:
    """Register every option on pytest's parser."""
    group = parser.getgroup("finetunebench", "fine-tuning benchmark (pytest-finetunebench)")
    for opt in OPTIONS:
        kwargs: dict[str, Any] = {"dest": dest(opt), "help": opt.help.replace("%", "%%")}  # argparse formats help
        if opt.flag:
            kwargs.update(action="store_true", default=False)
        elif opt.multiple:
            kwargs.update(action="append", default=[], metavar=opt.metavar)
        elif opt.const is not None:
            kwargs.update(nargs="?", const=opt.const, type=opt.type, default=None, metavar=opt.metavar)
        else:
            kwargs.update(type=opt.type, default=None, metavar=opt.metavar)
        group.addoption(f"--ftb-{opt.name}", **kwargs)
        if opt.ini:
            parser.addini(dest(opt), f"default for --ftb-{opt.name}", type="linelist" if opt.multiple else "string")
