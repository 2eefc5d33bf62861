"""Several processes, one training run: `torchrun --nproc_per_node=N -m carcourse compare ...`.

torchrun starts N copies of the program with RANK, WORLD_SIZE and LOCAL_RANK set. Each copy
renders (or loads) the same data from the same seed, so nothing is sent around but gradients:
`fit` takes every global batch of `batch_size` images from the shared permutation and each rank
trains on its slice (`idx[rank::world]`), with DistributedDataParallel averaging the gradients.
Test predictions are computed on one slice per rank and gathered on rank 0, which writes the
report. NCCL on GPUs (one per rank, cuda:LOCAL_RANK), gloo on CPUs.
Without torchrun every helper here is a no-op for a single process."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init_from_env(device: str | None = None) -> Context | None:
    """Join the process group torchrun describes (None when not started by torchrun)."""
    if not launched_by_torchrun():
        return None
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None or str(device).startswith("cuda"):
        use_cuda = torch.cuda.is_available() and device != "cpu"
    else:
        use_cuda = False
    if use_cuda:
        if local >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK={local} but only {torch.cuda.device_count()} GPU(s) are visible: "
                             "use --nproc_per_node <= the number of GPUs")
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
        backend = "nccl"
    else:
        dev, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, device_id=dev if backend == "nccl" else None)
    return Context(dist.get_rank(), dist.get_world_size(), local, dev, backend)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum `t` over ranks in place (no-op for one process); returns it."""
    if active():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The model as DistributedDataParallel when several ranks train, else unchanged."""
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def gather_rows(local: torch.Tensor, index: torch.Tensor, total: int) -> torch.Tensor | None:
    """Rows computed on each rank's `index` slice, reassembled in order on rank 0 (None elsewhere)."""
    if not active():
        return local
    parts: list | None = [None] * world_size() if rank() == 0 else None
    dist.gather_object((index.cpu(), local.cpu()), parts, dst=0)
    if rank() != 0:
        return None
    out = torch.empty((total, *local.shape[1:]), dtype=local.dtype)
    for idx, rows in parts:
        out[idx] = rows
    return out
