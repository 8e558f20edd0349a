"""The fine-tuning half of the OpenAI emulator: jobs, their events and checkpoints, and what they train on.

:class:`FineTuningJobsMixin` is mixed into :class:`~.emulator.OpenAIEmulator`, which owns the
state it uses (``_jobs``, ``_files``, ``_models``, the lock and the settings). A job "trains" by
memorizing its file's prompts and answers; nothing is learned.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from typing import Any

from ..server import json_reply

# Base snapshots the emulator tunes in December 2026 (others get the API's 400 message).
TUNABLE = frozenset({"gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14"})
# Aliases resolve to their dated snapshot: a job reports the snapshot it tuned.
ALIASES = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
}
MIN_EXAMPLES = 10  # fewer: the job is created, then fails (invalid_n_examples)
# Request fields the API takes; any other is a 400 (as OpenAI answers unknown parameters).
JOB_FIELDS = frozenset(
    {
        "model",
        "training_file",
        "hyperparameters",
        "integrations",
        "metadata",
        "method",
        "seed",
        "suffix",
        "validation_file",
    }
)


def rand(n: int = 12) -> str:
    return secrets.token_hex(n)[:n]


def error_body(
    message: str, type_: str = "invalid_request_error", code: str | None = None, param: str | None = None
) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def auto_epochs(n_examples: int) -> int:
    """OpenAI's documented rule for ``n_epochs="auto"``: 3, stretched so small sets see ~100 examples."""
    n_epochs = 3
    if n_examples * n_epochs < 100:
        n_epochs = min(25, math.ceil(100 / max(n_examples, 1)))
    elif n_examples * n_epochs > 25000:
        n_epochs = max(1, 25000 // n_examples)
    return n_epochs


class FineTuningJobsMixin:
    """Job create, progress, retrieve, list, events, checkpoints and cancel."""

    _lock: Any
    _jobs: dict[str, dict]
    _files: dict[str, dict]
    _models: dict[str, dict[str, str]]

    def _create_job(self, p: dict):
        model, training_file = p.get("model"), p.get("training_file")
        if unknown := sorted(set(p) - JOB_FIELDS):
            return json_reply(
                400, error_body(f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0])
            )
        if not model or not training_file:
            return json_reply(400, error_body("Missing required parameter: 'model' or 'training_file'.", param="model"))
        model = ALIASES.get(model, model)
        if model not in self.tunable:
            return json_reply(
                400,
                error_body(
                    f"Model {model} is not available for fine-tuning or does not exist.",
                    code="model_not_available",
                    param="model",
                ),
            )
        with self._lock:
            f = self._files.get(training_file)
        if f is None:
            return json_reply(400, error_body(f"invalid training_file: {training_file}", param="training_file"))
        method = p.get("method") or {
            "type": "supervised",
            "supervised": {"hyperparameters": p.get("hyperparameters") or {}},
        }
        hp = dict(((method.get(method.get("type", "supervised")) or {}).get("hyperparameters")) or {})
        examples, problem = _parse_training(f["_content"])
        if problem is None and len(examples) < self.min_examples:
            problem = (
                f"Training file has {len(examples)} example(s), but must have at least {self.min_examples} examples"
            )
        n_epochs = hp.get("n_epochs", "auto")
        n_epochs = auto_epochs(len(examples)) if n_epochs in (None, "auto") else int(n_epochs)
        batch_size = hp.get("batch_size", "auto")
        batch_size = 1 if batch_size in (None, "auto") else int(batch_size)
        lr = hp.get("learning_rate_multiplier", "auto")
        lr = 2.0 if lr in (None, "auto") else float(lr)
        resolved = {"n_epochs": n_epochs, "batch_size": batch_size, "learning_rate_multiplier": lr}
        tokens = sum(len(q) + len(a) for q, a in examples.items()) // 4 + 8 * len(examples)
        with self._lock:
            job_id = f"ftjob-{rand(24)}"
            self.jobs_created += 1
            job = {
                "id": job_id,
                "object": "fine_tuning.job",
                "created_at": int(time.time()),
                "error": None,
                "fine_tuned_model": None,
                "finished_at": None,
                "hyperparameters": resolved,
                "model": model,
                "organization_id": "org-ftb-emulator",
                "result_files": [],
                "seed": p.get("seed") if p.get("seed") is not None else 42,
                "status": "validating_files",
                "trained_tokens": None,
                "training_file": training_file,
                "validation_file": p.get("validation_file"),
                "estimated_finish": None,
                "integrations": None,
                "metadata": p.get("metadata"),
                "method": {"type": "supervised", "supervised": {"hyperparameters": resolved}},
                "user_provided_suffix": p.get("suffix"),
                "seq": self.jobs_created,
                "_t0": time.monotonic(),
                "_polls": 0,
                "_memory": examples,
                "_problem": problem,
                "_tokens": tokens * n_epochs,
                "_events": [],
                "_checkpoints": [],
                "_steps_per_epoch": max(1, math.ceil(len(examples) / batch_size)),
            }
            self._jobs[job_id] = job
            self._event(job, f"Created fine-tuning job: {job_id}")
            self._event(job, f"Validating training file: {training_file}")
            if self._drop_create():
                return None
            return json_reply(200, self._public_job(job))

    def _advance(self, job: dict, poll: bool) -> None:
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return
        if poll:
            job["_polls"] += 1
        elapsed = time.monotonic() - job["_t0"]
        duration = max(self.job_seconds, 1e-9)
        done = elapsed >= self.job_seconds and job["_polls"] >= self.job_polls
        if not done:
            frac = min(elapsed / duration, 1.0)
            if self.job_polls:
                frac = max(frac, min(job["_polls"] / self.job_polls, 1.0)) if not self.job_seconds else frac
            status = "validating_files" if frac < 0.1 else "queued" if frac < 0.2 else "running"
            if status != job["status"]:
                if status == "queued":
                    self._event(job, "Files validated, moving job to queued state")
                if status == "running":
                    self._event(job, "Fine-tuning job started")
                job["status"] = status
            if status == "running":
                n_steps = job["_steps_per_epoch"] * job["hyperparameters"]["n_epochs"]
                step = max(1, int(n_steps * (frac - 0.2) / 0.8))
                job["trained_tokens"] = None
                job["estimated_finish"] = int(time.time() + max(self.job_seconds - elapsed, 0)) + 1
                self._event(job, f"Step {step}/{n_steps}: training loss={1.0 / step:.3f}", "metrics")
            return
        now = int(time.time())
        job["finished_at"] = now
        job["estimated_finish"] = None
        failure = job["_problem"] or self.fail_jobs
        if failure:
            job["status"] = "failed"
            code = (
                ("invalid_n_examples" if job["_problem"].startswith("Training file has") else "invalid_training_file")
                if job["_problem"]
                else "training_failed"
            )
            job["error"] = {"code": code, "message": failure, "param": "training_file" if job["_problem"] else None}
            self._event(job, failure, level="error")
            return
        suffix = job.get("user_provided_suffix") or ""
        model = f"ft:{job['model']}:ftb-emulator:{suffix}:{rand(8)}"
        job["fine_tuned_model"] = model
        job["trained_tokens"] = job["_tokens"]
        job["status"] = "succeeded"
        self._models[model] = job["_memory"]
        self._loading[model] = self.loading_requests
        spe, n_epochs = job["_steps_per_epoch"], job["hyperparameters"]["n_epochs"]
        for epoch in range(max(1, n_epochs - self.keep_checkpoints + 1), n_epochs + 1):
            step = epoch * spe
            ckpt = f"{model}:ckpt-step-{step}"
            self._models[ckpt] = job["_memory"]
            job["_checkpoints"].append(
                {
                    "id": f"ftckpt_{rand(24)}",
                    "object": "fine_tuning.job.checkpoint",
                    "created_at": now,
                    "fine_tuned_model_checkpoint": ckpt,
                    "fine_tuning_job_id": job["id"],
                    "metrics": {"step": float(step), "train_loss": 1.0 / step, "train_mean_token_accuracy": 1.0},
                    "step_number": step,
                }
            )
        self._event(job, f"New fine-tuned model created: {model}")
        self._event(job, "The job has successfully completed")

    def _event(self, job: dict, message: str, type_: str = "message", level: str = "info") -> None:
        job["_events"].append(
            {
                "id": f"ftevent-{rand(24)}",
                "object": "fine_tuning.job.event",
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "data": {},
                "type": type_,
            }
        )

    def _retrieve_job(self, job: dict):
        with self._lock:
            self._advance(job, poll=True)
            return json_reply(200, self._public_job(job))

    def _list_jobs(self, query: list[tuple[str, str]]):
        q = dict(query)
        wanted = {k[len("metadata[") : -1]: v for k, v in query if k.startswith("metadata[") and k.endswith("]")}
        limit = int(q.get("limit", 20))
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: -j["seq"])
            if q.get("metadata") == "null":
                jobs = [j for j in jobs if not j["metadata"]]
            jobs = [j for j in jobs if all((j["metadata"] or {}).get(k) == v for k, v in wanted.items())]
            if "after" in q:
                ids = [j["id"] for j in jobs]
                jobs = jobs[ids.index(q["after"]) + 1 :] if q["after"] in ids else []
            for j in jobs[:limit]:
                self._advance(j, poll=False)
            page = [self._public_job(j) for j in jobs[:limit]]
            return json_reply(200, {"object": "list", "data": page, "has_more": len(jobs) > limit})

    def _events(self, job: dict, query: list[tuple[str, str]]):
        limit = int(dict(query).get("limit", 20))
        with self._lock:
            events = _after(list(reversed(job["_events"])), dict(query).get("after"))
            return json_reply(200, {"object": "list", "data": events[:limit], "has_more": len(events) > limit})

    def _checkpoints(self, job: dict, query: list[tuple[str, str]]):
        limit = int(dict(query).get("limit", 10))
        with self._lock:
            ckpts = _after(list(reversed(job["_checkpoints"])), dict(query).get("after"))
            page = ckpts[:limit]
            return json_reply(
                200,
                {
                    "object": "list",
                    "data": page,
                    "has_more": len(ckpts) > limit,
                    "first_id": page[0]["id"] if page else None,
                    "last_id": page[-1]["id"] if page else None,
                },
            )

    def _cancel(self, job: dict):
        with self._lock:
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return json_reply(
                    400,
                    error_body(f"Job {job['id']} has already completed and cannot be cancelled.", code="invalid_state"),
                )
            job["status"] = "cancelled"
            job["finished_at"] = int(time.time())
            self._event(job, "Fine-tuning job cancelled")
            return json_reply(200, self._public_job(job))

    def _public_job(self, job: dict) -> dict:
        return {k: v for k, v in job.items() if not k.startswith("_") and k not in ("seq", "user_provided_suffix")}


def _after(items: list[dict], cursor: str | None) -> list[dict]:
    """The items after the one whose id is ``cursor`` (all of them without one; none for an unknown id)."""
    if cursor is None:
        return items
    ids = [item["id"] for item in items]
    return items[ids.index(cursor) + 1 :] if cursor in ids else []


def text_of(content: Any) -> str:
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def _parse_training(content: bytes) -> tuple[dict[str, str], str | None]:
    """``{user prompt: assistant answer}`` from chat JSONL, and the first problem found (or ``None``)."""
    memory: dict[str, str] = {}
    for n, line in enumerate(content.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line)["messages"]
            user = text_of(next(m for m in reversed(messages) if m["role"] == "user")["content"])
            answer = text_of(next(m for m in reversed(messages) if m["role"] == "assistant")["content"])
        except (ValueError, KeyError, TypeError, StopIteration):
            return (
                memory,
                f"The job failed due to an invalid training file. Invalid file format. Line {n}: each line needs "
                "'messages' with a user and an assistant message.",
            )
        memory[user] = answer
    return memory, None
