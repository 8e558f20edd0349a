"""One training over several processes: torch.distributed under torchrun, gradients by DDP.

Nothing here makes process groups, rendezvous or gradient averages of its own: torchrun starts the
processes and sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`torch.distributed.init_process_group`
joins them (gloo on a CPU; ``cpu:gloo,cuda:nccl`` on CUDA, so a tensor on either device has a
backend); :class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients. What this
module adds is the split of each global batch across the processes and a loss scaled so that DDP's
average is the global batch's mean over answer tokens, the same loss a single process computes on
the whole batch. A job torchrun started always joins its group, even alone, so one GPU runs every
collective a larger job runs. NCCL's rule, checked on a CPU: :mod:`.rule`.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from .rule import own_tensors

# How long a collective waits for the other processes before the job fails (torch's NCCL default is
# 10 minutes); FTB_DIST_TIMEOUT_MIN overrides it. Rank 0's saves are waited for on a gloo group of
# their own with SAVE_TIMEOUT (a merged 70B model takes minutes to write), see World.saved.
TIMEOUT = datetime.timedelta(minutes=30)
SAVE_TIMEOUT = datetime.timedelta(hours=2)


def backend_string(device_type: str) -> str:
    """The backends the process group is made with: gloo for CPU tensors, and NCCL for CUDA's."""
    return "cpu:gloo,cuda:nccl" if device_type == "cuda" else "gloo"


def timeout() -> datetime.timedelta:
    """:data:`TIMEOUT`, or ``FTB_DIST_TIMEOUT_MIN`` minutes."""
    minutes = os.environ.get("FTB_DIST_TIMEOUT_MIN")
    return datetime.timedelta(minutes=float(minutes)) if minutes else TIMEOUT


def launched() -> bool:
    """Whether a launcher (torchrun) started this process as a rank of a group."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


@dataclass(frozen=True)
class World:
    """This process's place among the training's processes (alone: rank 0 of 1, no group)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    joined: bool = False  # in a process group (torchrun started it, even at size 1)
    _host: Any = field(default=None, compare=False, repr=False)  # gloo group for waiting on saves

    @property
    def main(self) -> bool:
        """Whether this process writes the model, the record and the progress lines."""
        return self.rank == 0

    @classmethod
    def join(cls, device_type: str) -> World:
        """Join the process group torchrun describes in the environment (nothing to join alone)."""
        if not launched():
            return cls()
        rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend_string(device_type), timeout=timeout())
        host = dist.new_group(backend="gloo", timeout=SAVE_TIMEOUT)
        return cls(rank, size, local_rank, True, host)

    def device(self, device: torch.device) -> torch.device:
        """The device this process trains on: its own GPU (by local rank) in a group on CUDA, else
        ``device`` as given (``cuda:1`` keeps its index)."""
        return torch.device("cuda", self.local_rank) if self.joined and device.type == "cuda" else device

    def share(self, batch: list[int]) -> list[int]:
        """This process's examples of a global batch (every ``size``-th one, from its rank on)."""
        return batch[self.rank :: self.size]

    def total(self, value: float, device: torch.device) -> float:
        """``value`` summed over the processes (the tensor on the training ``device``, as NCCL needs)."""
        if not self.joined:
            return value
        with own_tensors():
            tensor = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
        return float(tensor.item())

    def wrap(self, module: ScaledLoss, shard: bool = False, mixed: torch.dtype | None = None) -> torch.nn.Module:
        """``module`` under DDP in a group; with ``shard``, its model's units (``_no_split_modules``)
        and then the whole sharded across the processes instead (FSDP2 ``fully_shard``, its
        all-gathers in ``mixed`` when given, gradients reduced in fp32)."""
        if not self.joined:
            return module
        if shard:
            from torch.distributed.fsdp import FSDPModule

            if not isinstance(module.model, FSDPModule):  # not sharded as it loaded (load_sharded)
                sharded(module.model, mixed)
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.local_rank] if next(module.parameters()).is_cuda else None
        return DistributedDataParallel(module, device_ids=ids)

    def full_state(self, model: torch.nn.Module, shard: bool) -> dict[str, Any] | None:
        """A sharded model's whole weights, gathered on the main process (every process calls this);
        ``None`` for a model each process holds whole."""
        if not shard or not self.joined:
            return None
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))

    def saved(self) -> None:
        """Wait for the main process's save: a monitored barrier on the gloo group, :data:`SAVE_TIMEOUT`
        long, so a slow save does not time the training's collectives out and a dead rank is named."""
        if self.joined:
            dist.monitored_barrier(group=self._host, timeout=SAVE_TIMEOUT, wait_all_ranks=True)

    def leave(self) -> None:
        if self.joined and dist.is_initialized():
            dist.destroy_process_group()


def sharded(model: torch.nn.Module, mixed: torch.dtype | None) -> torch.nn.Module:
    """``model`` sharded by FSDP2: each of its :func:`shard_units`, then the whole; parameters
    all-gathered in ``mixed`` when given (bf16: half the traffic), gradients reduced in fp32."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(param_dtype=mixed, reduce_dtype=torch.float32 if mixed else None)
    for layer in shard_units(model):
        fully_shard(layer, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    return model


def load_sharded(base: str, world: World, device: torch.device, mixed: torch.dtype | None) -> torch.nn.Module:
    """The model at ``base`` sharded across the group without any process holding it whole on its
    device: every process builds it on the ``meta`` device (no memory), shards it (:func:`sharded`)
    and makes its shards on ``device``; the main process reads the weights into host memory and
    broadcasts them into the shards, a tensor at a time. So a model one device cannot hold trains
    if the main process's host memory holds it once (in fp32)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict
    from transformers import AutoConfig, AutoModelForCausalLM

    whole: dict[str, torch.Tensor] = {}
    buffers: dict[str, torch.Tensor] = {}
    if world.main:
        read = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        whole, buffers = read.state_dict(), dict(read.named_buffers())
        del read
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(base), dtype=torch.float32)
    sharded(model, mixed)
    model.to_empty(device=device)
    set_model_state_dict(model, whole, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True))
    del whole
    for name, buffer in model.named_buffers():  # those in no state dict (rotary frequencies) too
        if world.main:
            buffer.copy_(buffers[name])
        dist.broadcast(buffer, src=0)
    return model


def shard_units(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The modules FSDP shards one by one: those of the classes the model names in
    ``_no_split_modules`` (its decoder layers, whatever their class is called)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = set(getattr(inner, "_no_split_modules", None) or ())
    return [m for m in model.modules() if m is not model and type(m).__name__ in names]


class ScaledLoss(torch.nn.Module):
    """The training loss as one module, so DDP sees the whole forward and syncs the gradients.

    ``forward`` returns this process's mean answer-token loss times ``factor``: with ``factor`` =
    this process's answer tokens x processes / answer tokens of the whole global batch, DDP's
    average of the gradients is the gradient of the global batch's mean loss (with one process,
    ``factor`` is 1). A process without examples in a short last batch runs one with ``factor`` 0,
    so it still takes part in the step with a zero gradient.
    """

    def __init__(self, model: Any, loss: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor, factor: float) -> torch.Tensor:
        return self.loss(self.model, ids, mask, labels) * factor
