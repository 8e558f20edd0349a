"""The tuning half of the Vertex AI emulator: tuningJobs create, list, get, cancel, and what a job trains.

:class:`TuningJobsMixin` is mixed into :class:`~.emulator.VertexEmulator`, which owns the
state it uses (``_jobs``, ``_endpoints``, the stored objects, the lock and the settings). A job
"trains" by memorizing its dataset's prompts and answers; nothing is learned.
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

from ..server import Reply, json_reply
from .storage import digits, google_reply, now, unknown_field

# Base models the emulator tunes (others get the API's 400 message); retired ones answer 404.
TUNABLE = frozenset(
    {"gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-3.5-flash", "gemini-3.1-flash-lite"}
)
# Gemini 3.x tunes in two regions; its tuned endpoints live at the multi-region location.
GEMINI3_REGIONS = {"us-central1": "us", "europe-west4": "eu"}
ADAPTER_SIZES = (
    "ADAPTER_SIZE_ONE",
    "ADAPTER_SIZE_TWO",
    "ADAPTER_SIZE_FOUR",
    "ADAPTER_SIZE_EIGHT",
    "ADAPTER_SIZE_SIXTEEN",
)
# Request fields the API knows (camelCase, as google-genai sends them); anything else is a 400.
CREATE_FIELDS = frozenset(
    {
        "baseModel",
        "supervisedTuningSpec",
        "tunedModelDisplayName",
        "description",
        "labels",
        "encryptionSpec",
        "serviceAccount",
        "preTunedModel",
    }
)

TERMINAL = (
    "JOB_STATE_SUCCEEDED",
    "JOB_STATE_FAILED",
    "JOB_STATE_CANCELLED",
    "JOB_STATE_EXPIRED",
    "JOB_STATE_PARTIALLY_SUCCEEDED",
)

_RPC_CODE = {"JOB_STATE_FAILED": 3, "JOB_STATE_CANCELLED": 1, "JOB_STATE_EXPIRED": 4}
_DEFAULT_END_MESSAGE = {
    "JOB_STATE_FAILED": "Tuning job failed (emulated).",
    "JOB_STATE_CANCELLED": "CANCELED: the tuning job was cancelled (emulated).",
    "JOB_STATE_EXPIRED": "The tuning job expired before it could run (emulated).",
}


class TuningJobsMixin:
    """Job create, list, progress, cancel and success (endpoints and checkpoints)."""

    _lock: Any
    _jobs: dict[str, dict]
    _endpoints: dict[str, dict[str, str]]
    _objects: dict[tuple[str, str], dict[str, Any]]

    def _create_job(self, project: str, location: str, p: dict) -> Reply | None:
        base = p.get("baseModel")
        spec = p.get("supervisedTuningSpec") or {}
        uri = spec.get("trainingDatasetUri")
        if refused := unknown_field(p, CREATE_FIELDS):
            return refused
        if not base:
            return google_reply(400, "Request contains an invalid argument: base_model is required. (emulated)")
        if base not in self.tunable:
            return google_reply(400, f"Base model {base} is not supported for supervised tuning. (emulated)")
        if base.startswith("gemini-3") and location not in GEMINI3_REGIONS:
            return google_reply(
                400,
                f"Base model {base} can be tuned only in {', '.join(GEMINI3_REGIONS)}; {location} is not "
                "supported. (emulated)",
            )
        adapter = (spec.get("hyperParameters") or {}).get("adapterSize")
        allowed = ADAPTER_SIZES[:4] if base.startswith("gemini-2.5-pro") else ADAPTER_SIZES
        if adapter is not None and adapter not in allowed:
            return google_reply(
                400, f"Adapter size {adapter} is not supported for {base}; supported: {', '.join(allowed)}. (emulated)"
            )
        if self.max_running_jobs is not None:
            with self._lock:
                running = sum(1 for j in self._jobs.values() if j["state"] not in TERMINAL)
            if running >= self.max_running_jobs:
                return google_reply(
                    429,
                    "Quota exceeded for aiplatform.googleapis.com/concurrent_tuning_jobs: "
                    f"{self.max_running_jobs} concurrent tuning jobs per region. (emulated)",
                )
        if not uri or not str(uri).startswith("gs://"):
            return google_reply(
                400, "Request contains an invalid argument: training_dataset_uri must be a gs:// URI. (emulated)"
            )
        for key, value in (p.get("labels") or {}).items():
            if not re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key) or not re.fullmatch(r"[a-z0-9_-]{0,63}", str(value)):
                return google_reply(
                    400,
                    f"Label {key}={value!r} is invalid: keys and values hold lowercase letters, digits, _ and - "
                    "(at most 63). (emulated)",
                )
        hp = dict(spec.get("hyperParameters") or {})
        epochs = int(hp.get("epochCount") or self.default_epochs)
        resolved = {
            "epochCount": str(epochs),
            "learningRateMultiplier": float(hp.get("learningRateMultiplier") or 1.0),
            "adapterSize": hp.get("adapterSize") or "ADAPTER_SIZE_FOUR",
        }
        with self._lock:
            self.jobs_created += 1
            name = f"projects/{project}/locations/{location}/tuningJobs/{digits()}"
            job = {
                "name": name,
                "tunedModelDisplayName": p.get("tunedModelDisplayName") or f"{base}-tuned",
                "baseModel": base,
                "supervisedTuningSpec": {
                    "trainingDatasetUri": uri,
                    "hyperParameters": resolved,
                    **({"exportLastCheckpointOnly": True} if spec.get("exportLastCheckpointOnly") else {}),
                },
                "state": "JOB_STATE_PENDING",
                "createTime": now(),
                "updateTime": now(),
                "labels": p.get("labels") or {},
                "_seq": self.jobs_created,
                "_t0": time.monotonic(),
                "_polls": 0,
                "_project": project,
                "_location": location,
            }
            if p.get("description"):
                job["description"] = p["description"]
            self._jobs[name] = job
            if self._drop_create():
                return None
            return json_reply(200, self._public(job))

    def _list_jobs(self, project: str, location: str, query: dict) -> Reply:
        wanted: dict[str, str] = {}
        for clause in filter(None, re.split(r"\s+AND\s+", query.get("filter", "").strip())):
            m = re.fullmatch(r'labels\.([\w-]+)\s*=\s*"?([^"]*)"?', clause.strip())
            if not m:
                return google_reply(400, f'Unsupported filter: {clause} (emulated supports labels.KEY="VALUE")')
            wanted[m.group(1)] = m.group(2)
        size = int(query.get("pageSize") or 100)
        start = int(query.get("pageToken") or 0)
        prefix = f"projects/{project}/locations/{location}/"
        with self._lock:
            jobs = [j for j in sorted(self._jobs.values(), key=lambda j: -j["_seq"]) if j["name"].startswith(prefix)]
            jobs = [j for j in jobs if all(j["labels"].get(k) == v for k, v in wanted.items())]
            page = jobs[start : start + size]
            for job in page:
                self._advance(job, poll=False)
            body: dict[str, Any] = {"tuningJobs": [self._public(j) for j in page]} if page else {}
            if start + size < len(jobs):
                body["nextPageToken"] = str(start + size)
            return json_reply(200, body)

    def _cancel(self, job: dict) -> Reply:
        with self._lock:
            if job["state"] in TERMINAL:
                return google_reply(
                    400, f"The TuningJob {job['name']} is in state {job['state']} and cannot be cancelled. (emulated)"
                )
            self._end(job, "JOB_STATE_CANCELLED", "CANCELED: the tuning job was cancelled by a request. (emulated)")
            return json_reply(200, {})

    def _advance(self, job: dict, poll: bool) -> None:
        if job["state"] in TERMINAL or job["state"] == "JOB_STATE_PAUSED":
            return
        if poll:
            job["_polls"] += 1
        elapsed = time.monotonic() - job["_t0"]
        if not (elapsed >= self.job_seconds and job["_polls"] >= self.job_polls):
            if job["state"] == "JOB_STATE_PENDING" and (job["_polls"] >= 1 or elapsed > self.job_seconds * 0.1):
                job["state"] = "JOB_STATE_RUNNING"
                job["startTime"] = job["updateTime"] = now()
            return
        problem = self._training(job)
        if problem:
            self._end(job, "JOB_STATE_FAILED", problem)
        elif self.end_state != "JOB_STATE_SUCCEEDED":
            self._end(
                job, self.end_state, self.fail_message or _DEFAULT_END_MESSAGE.get(self.end_state, "emulated failure")
            )
        else:
            self._succeed(job)

    def _training(self, job: dict) -> str | None:
        uri = job["supervisedTuningSpec"]["trainingDatasetUri"]
        bucket, _, name = uri[len("gs://") :].partition("/")
        obj = self._objects.get((bucket, name))
        if obj is None:
            return f"Failed to read the training dataset {uri}: No such object. (emulated)"
        memory: list[tuple[str, str]] = []
        for n, line in enumerate(obj["_data"].decode("utf-8", "replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                contents = json.loads(line)["contents"]
                user = "".join(
                    p.get("text", "") for p in next(c for c in reversed(contents) if c["role"] == "user")["parts"]
                )
                model = "".join(
                    p.get("text", "") for p in next(c for c in reversed(contents) if c["role"] == "model")["parts"]
                )
            except (ValueError, KeyError, TypeError, StopIteration, AttributeError):
                return (
                    f"Dataset validation failed: line {n} of {uri} is not a supervised tuning example (each line "
                    'needs "contents" with a user and a model turn). (emulated)'
                )
            memory.append((user, model))
        if not memory:
            return f"Dataset validation failed: {uri} holds no examples. (emulated)"
        job["_memory"] = memory
        return None

    def _end(self, job: dict, state: str, message: str) -> None:
        job["state"] = state
        job["endTime"] = job["updateTime"] = now()
        job["error"] = {"code": _RPC_CODE.get(state, 2), "message": message}

    def _succeed(self, job: dict) -> None:
        memory = job["_memory"]
        epochs = int(job["supervisedTuningSpec"]["hyperParameters"]["epochCount"])
        serving = GEMINI3_REGIONS[job["_location"]] if job["baseModel"].startswith("gemini-3") else job["_location"]
        prefix = f"projects/{job['_project']}/locations/{serving}"
        endpoint = f"{prefix}/endpoints/{digits()}"
        self._endpoints[endpoint] = dict(memory)
        checkpoints = []
        if not job["supervisedTuningSpec"].get("exportLastCheckpointOnly"):
            # Up to 10 epochs: one checkpoint each; more: about 10, evenly spaced, the last after the final epoch.
            exported = (
                range(1, epochs + 1) if epochs <= 10 else sorted({math.ceil(epochs * i / 10) for i in range(1, 11)})
            )
            for epoch in exported:
                ckpt = endpoint if epoch == epochs else f"{prefix}/endpoints/{digits()}"
                self._endpoints[ckpt] = dict(memory[: math.ceil(len(memory) * epoch / epochs)])
                checkpoints.append(
                    {
                        "checkpointId": str(epoch),
                        "epoch": str(epoch),
                        "step": str(epoch * len(memory)),
                        "endpoint": ckpt,
                    }
                )
        job["state"] = "JOB_STATE_SUCCEEDED"
        job["endTime"] = job["updateTime"] = now()
        job["tunedModel"] = {
            "model": f"{prefix}/models/{digits()}@1",
            "endpoint": endpoint,
            **({"checkpoints": checkpoints} if checkpoints else {}),
        }
        job["tuningDataStats"] = {
            "supervisedTuningDataStats": {
                "tuningDatasetExampleCount": str(len(memory)),
                "totalTuningCharacterCount": str(sum(len(q) + len(a) for q, a in memory)),
            }
        }
