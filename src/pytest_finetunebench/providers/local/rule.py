"""NCCL's rule, checked on a CPU: every tensor handed to a collective is on the training device, or
the process group's backend string names a backend for its device.

NCCL takes CUDA tensors only: a process group made with ``nccl`` alone fails a CPU tensor's
all-reduce ("No backend type associated with device type cpu"), and gloo, which the CPU tests run
on, takes both. With ``FTB_NCCL_RULE=1`` in its environment, a training job (:mod:`pytest_finetunebench.train`)
runs under :class:`NcclRule`, which sees every collective the process runs, its own and those of
DDP's reducer, FSDP and the state-dict gathers (torch dispatches them all as ``c10d`` ops), and
judges each tensor as a CUDA run's process group would (:func:`.dist.backend_string`).
On a CPU the training device is also where a tensor lands when nothing says where: so in this
mode the tensors the job makes for its own collectives are made with torch's default device set
to ``meta`` (:func:`own_tensors`), and one that does not name the training device is caught.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Iterator

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

RULE_ENV = "FTB_NCCL_RULE"
COLLECTIVE_NAMESPACES = ("c10d", "_c10d_functional")


def enforced() -> bool:
    """Whether this process checks NCCL's rule (``FTB_NCCL_RULE=1``)."""
    return os.environ.get(RULE_ENV) == "1"


def covers(backend: str) -> set[str]:
    """The device types a backend string has a backend for: ``cpu:gloo,cuda:nccl`` both, ``nccl``
    CUDA alone, ``gloo`` both (gloo reduces CUDA tensors through host memory)."""
    if ":" in backend:
        return {part.split(":", 1)[0].strip() for part in backend.split(",")}
    return {"cuda"} if backend.strip() == "nccl" else {"cpu", "cuda"}


class NcclRule(TorchDispatchMode):
    """Fails a collective handed a tensor that is neither on ``training`` nor of a device type
    ``backend`` covers; counts the collectives it checked by op (:attr:`checked`)."""

    def __init__(self, training: torch.device, backend: str) -> None:
        super().__init__()
        self.training, self.backend, self.covered = training, backend, covers(backend)
        self.checked: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204 (torch's signature)
        if func.namespace in COLLECTIVE_NAMESPACES:
            for tensor in tree_leaves((args, kwargs or {})):
                if isinstance(tensor, torch.Tensor) and not self.allows(tensor.device):
                    raise RuntimeError(
                        f"NCCL's rule: {func.name()} was handed a tensor on {tensor.device}; the training device is"
                        f" {self.training} and the backend string '{self.backend}' covers"
                        f" {', '.join(sorted(self.covered))}"
                    )
            self.checked[func.name()] += 1
        return func(*args, **(kwargs or {}))

    def allows(self, device: torch.device) -> bool:
        return device == self.training or device.type in self.covered


@contextlib.contextmanager
def own_tensors() -> Iterator[None]:
    """The block where a job makes the tensors of its own collectives: under the rule, with torch's
    default device ``meta``, so a tensor that does not name the training device shows on a CPU."""
    if not enforced():
        yield
        return
    with torch.device("meta"):
        yield
