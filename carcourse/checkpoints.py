"""Checkpoints: weights plus how they were trained, written atomically and loaded without
running code (weights_only=True). `SaveBest` is the callback fit() uses to write each new best
epoch; this module does not import the trainer."""
from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from . import distributed as ddp
from .config import TrainConfig, versions
from .history import Callback, History

CHECKPOINT_FORMAT = "carcourse-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded or does not fit; the message names the path."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the state dict, what model it belongs to, and how it was trained."""

    path: str
    model_name: str | None
    model_options: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    config: TrainConfig | None
    classes: tuple[str, ...]
    history: History
    versions: dict[str, str]

    def build_model(self) -> nn.Module:
        """A new model of the stored architecture with the stored weights."""
        from .models import build

        if self.model_name is None:
            raise CheckpointError(f"{self.path}: does not record its model name; build the model "
                                  f"yourself and call load_into(model)")
        options = {k: v for k, v in self.model_options.items() if k not in ("num_classes", "weights")}
        model = build(self.model_name, num_classes=len(self.classes), **options)
        return self.load_into(model)

    def load_into(self, model: nn.Module) -> nn.Module:
        """Load the weights into `model`, or raise CheckpointError describing the mismatch."""
        from .models import describe_mismatch

        detail = describe_mismatch(model.state_dict(), self.state_dict, source="checkpoint")
        if detail:
            stored = f"{self.model_name or 'unknown model'} with {len(self.classes)} classes {list(self.classes)}"
            target = f"{getattr(model, 'name', type(model).__name__)}"
            raise CheckpointError(f"{self.path}: checkpoint holds a {stored}; it does not fit this "
                                  f"{target}: {detail}")
        model.load_state_dict(self.state_dict)
        return model


def _plain(value: Any) -> Any:
    """Values safe for weights_only loading: paths become strings, tuples lists."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def save_checkpoint(path: str | os.PathLike, model: nn.Module, config: TrainConfig | None,
                    history: History | None, classes: Iterable[str]) -> Path:
    """Write weights, config, classes, history and versions to `path` atomically: a temporary
    file in the same folder is written, flushed to disk, then renamed over `path`, so an
    interrupted or failed write leaves any previous checkpoint intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model_name": getattr(model, "name", None),
        "model_options": _plain(getattr(model, "options", {})),
        "model": {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()},
        "config": _plain(config.to_dict()) if config is not None else None,
        "classes": list(classes),
        "history": _plain(history.to_dict()) if history is not None else None,
        "versions": versions(),
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint with weights_only=True: tensors and plain data only, so a file that
    would run code when unpickled is refused (CheckpointError) and runs nothing."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        why = next((ln for ln in lines if "Unsupported global" in ln or "GLOBAL" in ln), lines[0] if lines else "")
        raise CheckpointError(f"{path}: refused or unreadable: not a plain-data checkpoint, so it was "
                              f"not unpickled (it may contain code). {type(exc).__name__}: {why[:300]}") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a carcourse checkpoint (no format {CHECKPOINT_FORMAT!r}); "
                              f"for a bare state dict use carcourse.models.load_weights")
    return Checkpoint(
        path=str(path),
        model_name=payload.get("model_name"),
        model_options=payload.get("model_options") or {},
        state_dict=payload["model"],
        config=TrainConfig.from_dict(payload["config"]) if payload.get("config") else None,
        classes=tuple(payload.get("classes") or ()),
        history=History.from_dict(payload["history"]) if payload.get("history") else History(),
        versions=payload.get("versions") or {},
    )


class SaveBest(Callback):
    """Write a checkpoint to `path` at the end of every epoch that is the best so far
    (History.best_epoch), on rank 0 only under torchrun."""

    def __init__(self, path: str | os.PathLike, config: TrainConfig, classes: Iterable[str]):
        self.path, self.config, self.classes = path, config, tuple(classes)

    def on_epoch_end(self, epoch: int, history: History, model: nn.Module) -> None:
        if history.best_epoch == epoch and ddp.rank() == 0:
            save_checkpoint(self.path, model, self.config, history, self.classes)
