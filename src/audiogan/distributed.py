"""Data-parallel set-up from torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE).

One process per GPU (NCCL), or several CPU processes (gloo, used by the tests). Without torchrun's
variables everything here is a no-op for a single process.

Multi-node under SLURM: start one torchrun per node with a shared rendezvous, e.g. in an sbatch
script with `#SBATCH --nodes=2 --ntasks-per-node=1 --gpus-per-node=4`:

    head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
    srun torchrun --nnodes "$SLURM_NNODES" --nproc_per_node 4 \
        --rdzv_backend c10d --rdzv_endpoint "$head:29500" --rdzv_id "$SLURM_JOB_ID" \
        -m audiogan.training results/dataset/clips.json --state-root /shared/cache/train --out results/model \
        --train-config "$(cat train.json)"

(summary.json beside clips.json gives the rate and clip length; train.json holds the `train` settings, with `gpus` = nodes x GPUs per node; batch_size is the
global batch.) torchrun then sets RANK/LOCAL_RANK/WORLD_SIZE in every worker exactly as on one
node, and this module needs nothing else. The state folder must be on a filesystem all nodes share.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    """Where this process sits: its rank, local rank, the world size and its device."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def inside_torchrun() -> bool:
    """True in a worker started by torchrun (its environment names this process's rank)."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(device_kind: str) -> Dist:
    """Join the process group if torchrun started us, and pick this rank's device.

    `device_kind` is "cuda" or "cpu": NCCL with one GPU per local rank, or gloo on the CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1")) if inside_torchrun() else 1
    rank = int(os.environ.get("RANK", "0")) if world > 1 else 0
    local_rank = int(os.environ.get("LOCAL_RANK", "0")) if world > 1 else 0
    if device_kind == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if device_kind == "cuda" else "gloo",
            device_id=device if device_kind == "cuda" else None,
        )
    return Dist(rank=rank, local_rank=local_rank, world_size=world, device=device)


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def mean_across_ranks(values: torch.Tensor) -> torch.Tensor:
    """The element-wise mean of `values` over all ranks (a copy of `values` for one process)."""
    if not dist.is_initialized():
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / dist.get_world_size()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True when `flag` is set on at least one rank (every rank must call this together)."""
    if not dist.is_initialized():
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def from_main(values: torch.Tensor) -> torch.Tensor:
    """Rank 0's `values` on every rank (every rank must call this together, with the same shape)."""
    if not dist.is_initialized():
        return values
    values = values.clone()
    dist.broadcast(values, src=0)
    return values


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
