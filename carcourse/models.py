"""Models: the exercise's small CNN and torchvision's ResNet18 with a two-class head.

`build(name, num_classes=2, **options)` is the one entry point; both models take a normalised
float batch N×3×H×W and return logits N×num_classes (no softmax: the loss applies log-softmax).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

MODEL_NAMES = ("cnn", "resnet18")
RESNET_STEMS = ("imagenet", "small")


class SmallCNN(nn.Module):
    """Four conv blocks (conv3×3 → [BatchNorm] → ReLU → 2×2 max-pool), then fc1 → 256 → fc2.

    64×64 input leaves a 4×4 map after four poolings. `width` is the first block's channel count
    (blocks have width, 2·width, 4·width, 4·width): the capacity knob of the overfitting lesson.
    fc2 = nn.Linear(256, num_classes) is the exercise's last layer; its outputs are the logits.
    """

    def __init__(self, num_classes: int = 2, width: int = 32, dropout: float = 0.3,
                 batchnorm: bool = True, image_size: int = 64):
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16 (four 2×2 poolings), got {image_size}")
        chans = [3, width, 2 * width, 4 * width, 4 * width]
        blocks = []
        for c_in, c_out in zip(chans, chans[1:]):
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batchnorm)]
            blocks += [nn.BatchNorm2d(c_out)] if batchnorm else []
            blocks += [nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*blocks)
        side = image_size // 16
        self.fc1 = nn.Linear(chans[-1] * side * side, 256)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(256, num_classes)
        self.options = dict(num_classes=num_classes, width=width, dropout=dropout,
                            batchnorm=batchnorm, image_size=image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.features(x), 1)
        x = self.dropout(torch.relu(self.fc1(x)))
        return self.fc2(x)

    def extra_repr(self) -> str:
        return f"parameters={count_parameters(self):,}"


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


class WeightsError(ValueError):
    """A weights file that is missing or does not fit the model; the message names the path."""


def describe_mismatch(own: dict, incoming: dict, source: str = "file",
                      ignore_missing: tuple[str, ...] = ()) -> str:
    """Why state dict `incoming` does not fit a model whose state dict is `own` ("" if it fits):
    counts of shape mismatches, missing and unexpected keys, each with a first example."""
    missing = [k for k in own if k not in incoming and not k.startswith(ignore_missing)]
    unexpected = [k for k in incoming if k not in own]
    wrong = [f"{k}: {source} {tuple(v.shape)} vs model {tuple(own[k].shape)}"
             for k, v in incoming.items() if k in own and v.shape != own[k].shape]
    parts = []
    if wrong:
        parts.append(f"{len(wrong)} shape mismatch(es), e.g. {wrong[0]}")
    if missing:
        parts.append(f"{len(missing)} missing key(s), e.g. {missing[0]!r}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[0]!r}")
    return "; ".join(parts)


def load_weights(model: nn.Module, path: str | os.PathLike, skip_head: bool = False) -> nn.Module:
    """Load a local state dict (weights_only=True: data, never code) into model.

    skip_head leaves out keys whose shape differs in the final layer (`fc.*`), so ImageNet
    weights (1000 classes) can initialise a two-class ResNet18."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found (nothing is downloaded; see the README "
                           f"for how to put torchvision's ImageNet weights there)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"{path}: not a loadable state dict ({type(exc).__name__}: {exc})") from exc
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # a carcourse checkpoint
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a state dict, found {type(state).__name__}")
    own = model.state_dict()
    if skip_head:
        state = {k: v for k, v in state.items()
                 if not (k.startswith("fc.") and k in own and own[k].shape != v.shape)}
    ignore = ("fc.",) if skip_head else ()
    mismatch = describe_mismatch(own, state, source="file", ignore_missing=ignore)
    if mismatch:
        raise WeightsError(f"{path}: weights do not fit {type(model).__name__}: {mismatch}")
    model.load_state_dict(state, strict=not skip_head)
    return model


def resnet18(num_classes: int = 2, stem: str = "imagenet", weights: str | os.PathLike | None = None,
             dropout: float = 0.0) -> nn.Module:
    """torchvision's ResNet18 with a num_classes head.

    stem="imagenet" keeps the 7×7 stride-2 conv and max-pool (64 px → 16 px at layer1, 2×2 at
    layer4; cheap, and ImageNet weights fit it unchanged). stem="small" uses a 3×3 stride-1 conv
    and no max-pool (64 px stays 64 px at layer1, 8×8 at layer4; 16× the compute).
    `weights` is a local state dict path; its `fc` is replaced when the class count differs."""
    from torchvision.models import resnet18 as tv_resnet18

    if stem not in RESNET_STEMS:
        raise ValueError(f"stem={stem!r}: choose one of {RESNET_STEMS}")
    model = tv_resnet18(weights=None)  # never downloads
    if weights is not None:
        load_weights(model, weights, skip_head=True)
    if stem == "small":
        model.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    head = nn.Linear(model.fc.in_features, num_classes)
    model.fc = nn.Sequential(nn.Dropout(dropout), head) if dropout else head
    model.options = dict(num_classes=num_classes, stem=stem, dropout=dropout)
    return model


def build(name: str, num_classes: int = 2, seed: int | None = 0, **options) -> nn.Module:
    """A fresh model by name: "cnn" (SmallCNN; options width, dropout, batchnorm) or "resnet18"
    (options stem, weights, dropout). Initialised from `seed` without touching the global RNG."""
    if name not in MODEL_NAMES:
        raise ValueError(f"model name {name!r} is unknown: choose one of {MODEL_NAMES}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        model = SmallCNN(num_classes, **options) if name == "cnn" else resnet18(num_classes, **options)
    model.name = name
    return model
