"""One run on several processes (DDP under `torchrun`): who is who, and the few collectives the trainer needs.

`torchrun --nproc_per_node G -m experiments.train ...` starts G copies of the command; torchrun sets RANK,
LOCAL_RANK and WORLD_SIZE, and `setup` joins them into one process group (NCCL on CUDA, gloo on the CPU).
Rank 0 is the run's only writer (lock, config.yaml, metrics, checkpoints, summary, console); every rank trains.

Global batch: `optim.batch_size` sequences per optimizer step whatever the number of processes, drawn exactly
as one process draws them: each micro-batch of `optim.micro_batch_size` sequences is split into equal row
slices, one per rank (so the micro-batch size must divide by the world size). The run therefore computes the
same thing on 1 or G processes (up to the order of floating-point sums), its fingerprint does not depend on G,
and a checkpoint written by one world size resumes under another.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1


SINGLE = World()


def from_env() -> World:
    """The world torchrun describes in the environment (a single process where it says nothing)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return SINGLE
    return World(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")), size)


def setup(world: World, device: torch.device) -> None:
    """Join the process group (once per process): NCCL for CUDA devices, gloo otherwise."""
    if world.active and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=world.rank, world_size=world.size,
                                device_id=device if device.type == "cuda" else None)


def teardown(world: World) -> None:
    """Leave the process group. The run's DDP wrapper holds the group through its reducer and sits in reference
    cycles: it is collected here, while the group and the interpreter are alive, and not at the interpreter's
    exit, where gloo's threads die unjoined and the process aborts ("terminate called without an active
    exception", SIGABRT; about 1 run in 10-20 on a loaded CPU before this collect, none in 30 after)."""
    if world.active and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.active:
        dist.barrier()


def broadcast(world: World, value):
    """Rank 0's `value` (any picklable object) on every rank."""
    if not world.active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def reduce_sum(world: World, tensor: torch.Tensor) -> torch.Tensor:
    """The sum of `tensor` over the ranks (in place; a no-op on one process). Called at log points only: it
    waits for the device, which the step loop otherwise never does."""
    if world.active:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor
