"""One training over several processes: torch.distributed under torchrun, gradients by DDP.

Nothing here makes process groups, rendezvous or gradient averages of its own: torchrun starts the
processes and sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`torch.distributed.init_process_group`
joins them (gloo on a CPU, NCCL on CUDA); :class:`~torch.nn.parallel.DistributedDataParallel`
averages the gradients. What this module adds is the split of each global batch across the
processes and a loss scaled so that DDP's average is the global batch's mean over answer tokens,
the same loss a single process computes on the whole batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """This process's place among the training's processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process writes the model, the record and the progress lines."""
        return self.rank == 0

    @classmethod
    def join(cls, device_type: str) -> World:
        """Join the process group torchrun describes in the environment (nothing to join alone)."""
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size == 1:
            return cls()
        world = cls(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
        if device_type == "cuda":
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
        return world

    def device(self, device_type: str) -> torch.device:
        """The device this process trains on: its own GPU on CUDA."""
        return torch.device("cuda", self.local_rank) if device_type == "cuda" else torch.device(device_type)

    def share(self, batch: list[int]) -> list[int]:
        """This process's examples of a global batch (every ``size``-th one, from its rank on)."""
        return batch[self.rank :: self.size]

    def total(self, value: float) -> float:
        """``value`` summed over the processes."""
        if self.size == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(tensor)
        return float(tensor.item())

    def wrap(self, module: ScaledLoss, shard: bool = False) -> torch.nn.Module:
        """``module`` under DDP when there are several processes; with ``shard``, its model's
        decoder layers and the rest sharded across them instead (FSDP2 ``fully_shard``)."""
        if self.size == 1:
            return module
        if shard:
            from torch.distributed.fsdp import fully_shard

            for layer in module.model.modules():
                if type(layer).__name__.endswith("DecoderLayer"):
                    fully_shard(layer)
            fully_shard(module.model)
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.local_rank] if next(module.parameters()).is_cuda else None
        return DistributedDataParallel(module, device_ids=ids)

    def full_state(self, model: torch.nn.Module, shard: bool) -> dict[str, Any] | None:
        """A sharded model's whole weights, gathered on the main process (every process calls this);
        ``None`` for a model each process holds whole."""
        if not shard or self.size == 1:
            return None
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()

    def leave(self) -> None:
        if self.size > 1 and dist.is_initialized():
            dist.destroy_process_group()


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
