"""The tuning half of the Together AI emulator: model limits, the price estimate, and what a job does.

:class:`FineTuneJobsMixin` is mixed into :class:`~.emulator.TogetherEmulator`, which owns
the state it uses (``_jobs``, ``_files``, ``_models``, the lock and the settings). A job "trains"
by memorizing its file's prompts and answers; nothing is learned.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timezone
from typing import Any

from ..server import Reply, json_reply

# Models the emulator tunes, with the limits its /models/limits endpoint reports.
TUNABLE = frozenset({"meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "Qwen/Qwen3-8B", "google/gemma-3-4b-it"})
MAX_EPOCHS, MAX_RANK, DEFAULT_RANK = 20, 64, 8
PRICE_PER_M_TOKENS = 0.48  # the emulator's own made-up rate for its price estimate
# Fields of a job create (the SDK's FinetuneRequest); any other is a 400.
# fmt: off
CREATE_FIELDS = frozenset({
    "training_file", "validation_file", "packing", "model", "n_epochs", "learning_rate", "lr_scheduler",
    "warmup_ratio", "max_grad_norm",
    "weight_decay", "n_checkpoints", "n_evals", "max_seq_length", "batch_size", "gradient_accumulation_steps",
    "suffix", "wandb_key",
    "wandb_base_url", "wandb_project_name", "wandb_name", "wandb_entity", "random_seed", "early_stopping_enabled",
    "early_stopping_patience",
    "early_stopping_min_delta", "early_stopping_warmup_evals", "training_type", "training_method", "from_checkpoint",
    "multimodal_params",
    "from_hf_model", "hf_model_revision", "hf_api_token", "hf_output_repo_name",
})
# fmt: on
TERMINAL = ("completed", "error", "cancelled")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def api_error(message: str, type_: str = "invalid_request_error", code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


class FineTuneJobsMixin:
    """Limits, estimate, create, progress and completion of fine-tune jobs."""

    _lock: Any
    _jobs: dict[str, dict[str, Any]]
    _files: dict[str, dict[str, Any]]
    _models: dict[str, dict[str, str]]
    tunable: set[str]
    fail_jobs: str | None
    job_seconds: float
    job_polls: int
    jobs_created: int

    def _limits(self, model: str) -> Reply:
        if model not in self.tunable:
            return json_reply(
                404,
                api_error(f"Model {model} is not available for fine-tuning (emulated).", code="model_not_available"),
            )
        lora = {
            "default_rank": DEFAULT_RANK,
            "max_rank": MAX_RANK,
            "min_batch_size": 8,
            "max_batch_size": 64,
            "max_batch_size_dpo": 32,
            "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
        }
        return json_reply(
            200,
            {
                "model_name": model,
                "default_gradient_accumulation_steps": 1,
                "lora_training": lora,
                "max_learning_rate": 1.0,
                "min_learning_rate": 1e-8,
                "max_num_checkpoints": MAX_EPOCHS,
                "max_num_epochs": MAX_EPOCHS,
                "max_num_evals": 10,
                "max_seq_length_sft": 8192,
                "max_seq_length_dpo": 4096,
                "min_max_seq_length": 512,
                "merge_output_lora": False,
                "supports_full_training": True,
                "supports_reasoning": False,
                "supports_tools": False,
                "supports_vision": False,
                "full_training": {"min_batch_size": 8, "max_batch_size": 32, "max_batch_size_dpo": 16},
            },
        )

    def _estimate(self, p: dict) -> Reply:
        with self._lock:
            f = self._files.get(p.get("training_file", ""))
        if f is None:
            return json_reply(400, api_error(f"File {p.get('training_file')} not found (emulated)."))
        tokens = float(sum(len(q) + len(a) for q, a in f["_memory"].items()) // 4 * int(p.get("n_epochs") or 1))
        return json_reply(
            200,
            {
                "estimation_available": True,
                "allowed_to_proceed": True,
                "estimated_total_price": round(tokens * PRICE_PER_M_TOKENS / 1e6, 6),
                "estimated_train_token_count": tokens,
                "estimated_eval_token_count": 0.0,
                "user_limit": 100.0,
            },
        )

    def _create(self, p: dict) -> Reply | None:
        if unknown := sorted(set(p) - CREATE_FIELDS):
            return json_reply(400, api_error(f"Unknown field: {unknown[0]} (emulated)."))
        model, epochs = p.get("model"), int(p.get("n_epochs") or 1)
        with self._lock:
            f = self._files.get(p.get("training_file", ""))
        if model not in self.tunable:
            return json_reply(400, api_error(f"Model {model} is not available for fine-tuning (emulated)."))
        if f is None or not f["_done"]:
            return json_reply(400, api_error(f"Training file {p.get('training_file')} not found (emulated)."))
        if epochs > MAX_EPOCHS:
            return json_reply(400, api_error(f"n_epochs must be at most {MAX_EPOCHS} for {model} (emulated)."))
        training_type = p.get("training_type") or {
            "type": "Lora",
            "lora_r": DEFAULT_RANK,
            "lora_alpha": 2 * DEFAULT_RANK,
        }
        if training_type.get("type") == "Lora" and int(training_type.get("lora_r") or DEFAULT_RANK) > MAX_RANK:
            return json_reply(400, api_error(f"lora_r must be at most {MAX_RANK} for {model} (emulated)."))
        if len(p.get("suffix") or "") > 40:
            return json_reply(400, api_error("suffix must be at most 40 characters (emulated)."))
        with self._lock:
            self.jobs_created += 1
            job_id = f"ft-{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}"
            now = _now()
            job = {
                "id": job_id,
                "status": "pending",
                "user_id": "ftb-emulator-user",
                "created_at": now,
                "updated_at": now,
                "model": model,
                "training_file": f["id"],
                "n_epochs": epochs,
                "n_checkpoints": int(p.get("n_checkpoints") or 1),
                "learning_rate": float(p.get("learning_rate") or 1e-5),
                "batch_size": p.get("batch_size") if isinstance(p.get("batch_size"), int) else 8,
                "training_type": training_type,
                "training_method": {"method": "sft", "train_on_inputs": "auto"},
                "model_output_name": None,
                "events": [],
                "_suffix": p.get("suffix"),
                "_seed": p.get("random_seed"),
                "_seq": self.jobs_created,
                "_t0": time.monotonic(),
                "_polls": 0,
                "_memory": f["_memory"],
                "_problem": f["_problem"],
                "_checkpoints": [],
            }
            self._jobs[job_id] = job
            self._event(job, "job_pending", "Fine-tune request created")
            if self._drop_create():
                return None
            return json_reply(200, self._public(job))

    def _advance(self, job: dict, poll: bool) -> None:
        if job["status"] in TERMINAL:
            return
        if poll:
            job["_polls"] += 1
        elapsed = time.monotonic() - job["_t0"]
        if not (elapsed >= self.job_seconds and job["_polls"] >= self.job_polls):
            if job["status"] == "pending" and job["_polls"]:
                job["status"] = "running"
                job["started_at"] = _now()
                self._event(job, "training_start", "Training started")
            return
        job["updated_at"] = _now()
        failure = job["_problem"] or self.fail_jobs
        if failure:
            job["status"] = "error"
            self._event(job, "job_error", failure, level="error")
            return
        name = f"ftb-emulator/{job['model'].split('/')[-1]}-{job['_suffix'] or 'ft'}-{secrets.token_hex(3)}"
        job["model_output_name"] = name
        job["status"] = "completed"
        self._models[name] = job["_memory"]
        for epoch in range(1, job["n_epochs"] + 1):
            job["_checkpoints"].append(
                {
                    "checkpoint_type": "Intermediate" if epoch < job["n_epochs"] else "Final",
                    "created_at": _now(),
                    "path": f"{job['id']}/checkpoints/{epoch}",
                    "step": epoch * 10,
                    "checkpoint": "adapter",
                }
            )
        self._event(job, "job_complete", f"Fine-tuning job completed; the model is {name}")

    def _event(self, job: dict, kind: str, message: str, level: str = "info") -> None:
        job["events"].append(
            {"object": "fine-tune-event", "created_at": _now(), "type": kind, "message": message, "level": level}
        )

    def _public(self, job: dict) -> dict:
        return {k: v for k, v in job.items() if not k.startswith("_")}

    def _listed(self, job: dict) -> dict:
        """A job as the list endpoint shows it (with its suffix, without the output model's full record)."""
        keep = (
            "id",
            "status",
            "user_id",
            "created_at",
            "updated_at",
            "model",
            "training_file",
            "n_epochs",
            "n_checkpoints",
            "learning_rate",
            "batch_size",
            "training_type",
            "training_method",
            "model_output_name",
        )
        return {**{k: job[k] for k in keep if k in job}, "suffix": job["_suffix"], "random_seed": job["_seed"]}
