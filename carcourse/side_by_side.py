"""Independent training runs side by side, one process each, for a CPU with two or more cores.

A batch of 32 small images does not keep two threads busy: on a 2-core CPU (fp32, AVX2) two
1-thread runs side by side trained 1.36× (SmallCNN) and 1.28× (ResNet18) as many images per second
as one 2-thread run (bench/RESULTS.md). `compare` trains 2 models × 3 seeds, so it gains by
running two at a time. Each run is its own spawned process with its own seed, data and thread
count, so a rerun gives the same numbers; they differ in the last digits from the numbers of the
same runs made one at a time with two threads (any change of thread count changes the order of
floating-point sums). On a GPU, runs stay one at a time (`auto_workers` returns 1).
"""
from __future__ import annotations

import os
import queue as queue_module
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from .history import Callback, History

POLL_SECONDS = 0.5


@dataclass(frozen=True)
class RunSpec:
    """One training run: model name and build options, seed, epochs, device."""

    model: str
    seed: int
    epochs: int
    device: str
    num_classes: int
    options: dict[str, Any] = field(default_factory=dict)

    def build(self):
        """The untrained model of this run (same seed, same weights in any process)."""
        from .models import build

        return build(self.model, num_classes=self.num_classes, seed=self.seed, **self.options)

    def fit(self, model, train, val, progress: bool = False, callbacks=()) -> History:
        """Train `model` (from build()) with the default recipe for this run's epochs and seed:
        the one place both `compare` paths (one at a time, side by side) train a run."""
        from .train import fit

        return fit(model, train, val, self.config(progress), callbacks=callbacks)

    def config(self, progress: bool = False):
        """The TrainConfig of this run: the default recipe with this run's epochs, seed and device."""
        from .config import TrainConfig

        return TrainConfig(epochs=self.epochs, seed=self.seed, device=self.device, progress=progress)


@dataclass
class RunOutput:
    """What a run sends back: its History, its weights (CPU tensors), its test-set logits and, if
    asked for (train_side_by_side's `extra_sets`), its logits on each extra set by name."""

    spec: RunSpec
    history: History
    state: dict[str, torch.Tensor]
    logits: torch.Tensor
    extra: dict[str, torch.Tensor] = field(default_factory=dict)

    def model(self, device: torch.device | str | None = None):
        """The trained model, on `device` (default: the run's) and in the layout fit() chose."""
        return rebuild(self.spec, self.state, self.history.channels_last, device)


def rebuild(spec: RunSpec, state: dict[str, torch.Tensor], channels_last: bool,
            device: torch.device | str | None = None):
    """The model of `spec` with the weights `state`, on `device` (default: the run's), in the layout
    it trained in (channels_last when fit chose it), so it predicts as fast as it trained."""
    model = spec.build()
    model.load_state_dict(state)
    model = model.to(device if device is not None else spec.device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells, else all)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def auto_workers(device: torch.device | str, runs: int, cores: int | None = None) -> int:
    """2 on a CPU with at least 2 cores when there are at least 2 runs, else 1 (GPU, MPS, one
    run, one core, or under torchrun, which already spreads the work)."""
    from . import distributed as ddp

    cores = cores if cores is not None else usable_cores()
    if torch.device(device).type != "cpu" or runs < 2 or cores < 2 or ddp.world_size() > 1:
        return 1
    return 2


def check_workers(workers: Any) -> int | None:
    """None (choose automatically) or an integer >= 1; anything else raises ValueError naming it."""
    if workers is None or workers == "auto":
        return None
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1 or None (automatic), got {workers!r}")
    return workers


# ----------------------------------------------------------------------------------------------
# in the worker process
# ----------------------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}  # the data and message queue of this worker process, set once by _init


def _init(train, val, test, threads: int, messages, extra_sets) -> None:
    torch.set_num_threads(threads)
    _WORKER.update(train=train, val=val, test=test, messages=messages, extra_sets=extra_sets)


class _EpochMessages(Callback):
    """Tells the parent process after every epoch, so its progress bar moves."""

    def __init__(self, key: tuple[str, int], epochs: int, messages):
        self.key, self.epochs, self.messages = key, epochs, messages

    def on_epoch_end(self, epoch: int, history: History, model) -> None:
        self.messages.put((*self.key, epoch, self.epochs))  # epoch counts from 1


def _run(spec: RunSpec) -> RunOutput:
    from .evaluate import predict

    w = _WORKER
    model = spec.build()
    history = spec.fit(model, w["train"], w["val"], callbacks=[
        _EpochMessages((spec.model, spec.seed), spec.epochs, w["messages"])])
    logits = predict(model, w["test"]).logits
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return RunOutput(spec, history, state, logits)


def _predict_extra(spec: RunSpec, state: dict[str, torch.Tensor], channels_last: bool) -> dict[str, torch.Tensor]:
    from .evaluate import predict

    model = rebuild(spec, state, channels_last)
    return {name: predict(model, data).logits for name, data in _WORKER["extra_sets"].items()}


# ----------------------------------------------------------------------------------------------
# in the parent process
# ----------------------------------------------------------------------------------------------
def train_side_by_side(specs: list[RunSpec], splits: Any, workers: int = 2,
                       on_epoch: Callable[[str, int, int, int], None] | None = None,
                       on_done: Callable[[RunOutput], None] | None = None,
                       extra_sets: Mapping[str, Any] | None = None,
                       predict_extra: Callable[[RunSpec], bool] | None = None) -> list[RunOutput]:
    """Train every spec, `workers` at a time, each worker with cores // workers threads; return
    the outputs in the order of `specs`. The longest runs start first (so no core idles at the
    end while one long run finishes). `on_epoch(model, seed, epoch, epochs)` is called in this
    process after every epoch of any run, `on_done(output)` when a run ends. A worker's error
    is raised here; an interrupt stops every worker.

    `extra_sets` ({name: ImageSet}) are predicted by the trained model of each run for which
    `predict_extra(spec)` is true (default: every run), into `output.extra`, before on_done sees
    it. That prediction is a task of its own, queued behind the training runs, so it runs on
    whichever core finishes its training first instead of after all of them."""
    import torch.multiprocessing as mp

    if not specs:
        return []
    extra_sets = dict(extra_sets or {})
    wants_extra = (lambda spec: bool(extra_sets) and (predict_extra is None or predict_extra(spec)))
    threads = max(1, usable_cores() // workers)
    ctx = mp.get_context("spawn")
    messages = ctx.Queue()
    cost = {"resnet18": 3.0}  # a ResNet18 epoch costs about three SmallCNN epochs on a CPU
    order = sorted(range(len(specs)), key=lambda i: -cost.get(specs[i].model, 1.0) * specs[i].epochs)
    pool = ctx.Pool(processes=min(workers, len(specs)), initializer=_init,
                    initargs=(splits.train, splits.val, splits.test, threads, messages, extra_sets))
    try:
        pending = {(i, "train"): pool.apply_async(_run, (specs[i],)) for i in order}
        trained: dict[int, RunOutput] = {}
        outputs: dict[int, RunOutput] = {}
        while pending:
            try:
                message = messages.get(timeout=POLL_SECONDS)
                if on_epoch is not None:
                    on_epoch(*message)
            except queue_module.Empty:
                pass
            for (i, task) in [key for key, r in pending.items() if r.ready()]:
                result = pending.pop((i, task)).get()  # re-raises the worker's exception
                if task == "train" and wants_extra(specs[i]):
                    trained[i] = result
                    pending[i, "extra"] = pool.apply_async(
                        _predict_extra, (result.spec, result.state, result.history.channels_last))
                    continue
                if task == "extra":
                    logits, result = result, trained.pop(i)
                    result.extra = logits
                outputs[i] = result
                if on_done is not None:
                    on_done(outputs[i])
        while on_epoch is not None:  # messages still queued after the last run ended
            try:
                on_epoch(*messages.get_nowait())
            except queue_module.Empty:
                break
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    return [outputs[i] for i in range(len(specs))]
