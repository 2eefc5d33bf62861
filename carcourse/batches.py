"""Batch preparation on the device: normalisation, the dihedral augmentation, and batched
logits for evaluation.

Images stay uint8 until a batch is taken; conversion to float and standardisation happen per
batch on the device that computes. `batched_logits` is the one evaluation loop: predict() and
fit()'s validation loss both use it.
"""
from __future__ import annotations

import functools
from typing import Iterator

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .config import autocast

# ImageNet channel statistics: the usual choice, and what pretrained ResNet weights expect.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@functools.lru_cache(maxsize=8)
def _normalise_constants(device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift), 1×3×1×1 each, made once per device: a tensor built from a Python list on
    a GPU is a blocking host-to-device copy, and one per batch stalls the queue of kernels."""
    scale = torch.tensor([1 / (255 * s) for s in STD], device=device).view(1, 3, 1, 1)
    shift = torch.tensor([-m / s for m, s in zip(MEAN, STD)], device=device).view(1, 3, 1, 1)
    return scale, shift


def normalise(images: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """uint8 N×3×H×W → float32, scaled to [0, 1] and standardised with MEAN/STD."""
    scale, shift = _normalise_constants(str(images.device))
    x = torch.addcmul(shift, images.float(), scale)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


class NormalisedImages(Dataset):
    """uint8 images and labels as a torch Dataset of (normalised float image 3×H×W, label),
    normalised exactly as fit() normalises a batch: what a plain DataLoader loop iterates."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return normalise(self.images[i:i + 1])[0], self.labels[i]


def epoch_orders(n: int, seed: int) -> Iterator[torch.Tensor]:
    """The order of the n training images in each epoch, epoch after epoch: exactly the order in
    which `DataLoader(dataset, batch_size=any, shuffle=True,
    generator=torch.Generator().manual_seed(seed))` visits a dataset of n items when iterated
    one full epoch after another, because it is that loader's sampler drawing from the same
    generator (a loader over the indices 0..n-1)."""
    loader = DataLoader(range(n), batch_size=n, shuffle=True, generator=torch.Generator().manual_seed(seed))
    while True:
        yield torch.cat(list(loader))  # list(): run the epoch to its end, as a training loop does


def _dihedral_where(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """The 8 symmetries by definition: transpose, then flip left-right, then flip up-down, each
    where its bit is set."""
    b = bits.view(-1, 3, 1, 1, 1)
    x = torch.where(b[:, 0], x.transpose(-1, -2), x)
    x = torch.where(b[:, 1], x.flip(-1), x)
    return torch.where(b[:, 2], x.flip(-2), x)


@functools.lru_cache(maxsize=8)
def _dihedral_index(side: int, device: str) -> torch.Tensor:
    """(8, side²) source pixel of every output pixel for each symmetry (code = 4·t + 2·lr + ud),
    computed by applying _dihedral_where to a grid of pixel numbers."""
    grid = torch.arange(side * side).view(1, 1, side, side).expand(8, 1, side, side)
    codes = torch.arange(8)
    bits = torch.stack([codes // 4 % 2, codes // 2 % 2, codes % 2], dim=1).bool()
    return _dihedral_where(grid, bits).reshape(8, side * side).to(device)


def augment_dihedral(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """Apply one of the 8 symmetries of the square to each image: bits (N×3, bool) say
    transpose, flip left-right, flip up-down. Top-down aerial patches have no 'up', so all 8
    are valid views of the same scene. Square images take one gather through a precomputed
    pixel index (one pass over the batch, any dtype; fit() applies it to the uint8 batch)."""
    n, c, h, w = x.shape
    if h != w:
        bits = bits.clone()
        bits[:, 0] = False  # transposing needs square images
        return _dihedral_where(x, bits)
    code = bits[:, 0].long() * 4 + bits[:, 1].long() * 2 + bits[:, 2].long()
    index = _dihedral_index(h, str(x.device))[code]  # (n, h·w)
    out = x.reshape(n, c, h * w).gather(2, index[:, None, :].expand(n, c, h * w))
    return out.view(n, c, h, w)


def batched_logits(model: nn.Module, images: torch.Tensor, batch_size: int, device: torch.device,
                   amp: bool = False, channels_last: bool = False) -> Iterator[tuple[slice, torch.Tensor]]:
    """Yield (rows, logits) for consecutive batches of uint8 `images`, computed on `device` in
    eval mode without autograd; the model's train/eval mode is restored when the loop ends.
    Logits are as the model returns them (bf16 under amp)."""
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(images), batch_size):
            rows = slice(start, start + batch_size)
            with torch.inference_mode():
                xb = normalise(images[rows].to(device), channels_last)
                with autocast(device, amp):
                    logits = model(xb)
            yield rows, logits
    finally:
        model.train(was_training)
