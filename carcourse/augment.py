"""Photometric training augmentation: what aerial imagery varies in besides orientation.

Between flights and sensors the same scene changes in illumination (brightness), sun angle
(contrast), atmospheric haze (a light veil), colour balance and saturation, sharpness (blur from motion or resampling),
sensor noise, and ground resolution (a car covers more or fewer pixels). `photometric()` draws
one random setting of each per image and applies them batched on the batch's device: no
per-image Python, random numbers from the caller's torch.Generator, so the same seed gives the
same batch. Perspective and rotation are left out on purpose: nadir patches have no horizon,
and the eight square symmetries are `augment_dihedral`'s job.

The building blocks (`adjust_brightness`, `gaussian_blur`, `rescale`, …) take one factor per
image and are deterministic; bench/augment_shift.py uses them to make shifted test sets.
"""
from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F

# ITU-R BT.601 luma weights: the grey level of an RGB pixel.
LUMA = (0.299, 0.587, 0.114)
HAZE_AIRLIGHT = 0.85  # grey level of the haze veil, on the [0, 1] scale


@dataclass(frozen=True)
class PhotometricConfig:
    """Strength of each augmentation; 0 switches it off. Factors are drawn uniformly per image:

    brightness  b: pixel values × U(1-b, 1+b)          (illumination, exposure)
    contrast    c: distance from the image mean × U(1-c, 1+c)   (haze, sun angle)
    saturation  s: distance from grey × U(1-s, 1+s)    (colour mix, atmosphere)
    colour      g: each channel × U(1-g, 1+g)          (white balance, sensor colour)
    haze        h: veil towards light grey, x·(1-a) + 0.85·a with a ~ U(0, h)  (atmospheric haze)
    blur        σ: Gaussian blur with σ ~ U(0, blur) pixels      (motion, resampling)
    noise       n: Gaussian noise, sd ~ U(0, noise) of the [0, 1] range  (sensor noise)
    scale       z: zoom about the centre by U(1-z, 1+z), reflected at the border (ground resolution)
    p:          share of images augmented at all; the rest pass through unchanged

    The defaults are what fit uses (TrainConfig's photometric=True, its default): colour and
    light jitter and the atmosphere of aerial imagery (haze, blur, sensor noise) together, on 15 %
    of the images. Chosen with bench/augment_shift.py (exercise sizes, 8 epochs; bench/RESULTS.md
    has every table) on the validation split's shifted copies and a fresh unshifted sample four
    times the test split's size, then confirmed with 5 seeds for both models: each model's worst
    shift improves on every seed (SmallCNN atmosphere, ResNet18 low sun), and unshifted accuracy
    moves less than the seed spread (SmallCNN -0.2 points on the test split and -0.1 on the
    larger sample, ResNet18 +0.2 and -0.2). On 30-50 % of the images every jitter cost the
    SmallCNN 0.4-0.9 points (lower on every seed): the dose matters more than the kinds.
    LIGHT_AND_COLOUR and HAZE_BLUR_NOISE below are the stronger single kinds, for imagery known to
    differ in that way.
    """

    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.3
    colour: float = 0.15
    haze: float = 0.3
    blur: float = 1.5
    noise: float = 0.05
    scale: float = 0.0
    p: float = 0.15

    def __post_init__(self) -> None:
        limits = {"brightness": 1.0, "contrast": 1.0, "saturation": 1.0, "colour": 1.0, "haze": 1.0, "blur": 5.0,
                  "noise": 0.5, "scale": 0.5, "p": 1.0}
        for f in fields(self):
            value = getattr(self, f.name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not ok or not 0 <= value <= limits[f.name]:
                raise ValueError(f"PhotometricConfig.{f.name} must be a number in [0, {limits[f.name]}], "
                                 f"got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Colour and light jitter alone, on half the images: what a low evening sun or another camera
# changes. Measured with 8 epochs (bench/RESULTS.md, 2026-11-30, 5 seeds): ResNet18's worst shift
# (low sun) 0.775 -> 0.877 balanced accuracy, higher on every seed, unshifted accuracy within 0.2
# points either way; the SmallCNN pays about 0.6 points unshifted and its worst shift (atmosphere)
# does not move. Use: TrainConfig(photometric=LIGHT_AND_COLOUR).
LIGHT_AND_COLOUR = PhotometricConfig(brightness=0.2, contrast=0.2, saturation=0.3, colour=0.15,
                                     haze=0.0, blur=0.0, noise=0.0, p=0.5)
# Haze, blur and sensor noise alone on 30 % of the images: what photometric=True meant until
# 2026-11-30 (the stored ablation has since been rerun with today's default). The SmallCNN's atmosphere
# shift +4.5 points, at about half a point of unshifted accuracy.
HAZE_BLUR_NOISE = PhotometricConfig(brightness=0.0, contrast=0.0, saturation=0.0, colour=0.0,
                                    haze=0.3, blur=1.5, noise=0.05, p=0.3)


# ----------------------------------------------------------------------------------------------
# deterministic building blocks: float N×3×H×W in [0, 1], one factor per image (tensor N or float)
# ----------------------------------------------------------------------------------------------
def _per_image(value: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    """A per-image factor shaped N×1×1×1 (a float applies to every image)."""
    t = torch.as_tensor(value, dtype=x.dtype, device=x.device)
    return t.expand(x.shape[0]).reshape(-1, 1, 1, 1) if t.dim() == 0 else t.reshape(-1, 1, 1, 1)


@functools.lru_cache(maxsize=16)
def _luma(dtype: torch.dtype, device: str) -> torch.Tensor:
    return torch.tensor(LUMA, dtype=dtype, device=device).view(1, 3, 1, 1)  # once per device, not per batch


def grey(x: torch.Tensor) -> torch.Tensor:
    """Luma per pixel, N×1×H×W."""
    return (x * _luma(x.dtype, str(x.device))).sum(1, keepdim=True)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor | float) -> torch.Tensor:
    """Scale every pixel by `factor` (1 = unchanged)."""
    return x * _per_image(factor, x)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor | float) -> torch.Tensor:
    """Scale each image's distance from its mean grey level (1 = unchanged, 0 = flat grey)."""
    mean = grey(x).mean(dim=(1, 2, 3), keepdim=True)
    return mean + (x - mean) * _per_image(factor, x)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor | float) -> torch.Tensor:
    """Scale each pixel's distance from its grey level (1 = unchanged, 0 = greyscale)."""
    g = grey(x)
    return g + (x - g) * _per_image(factor, x)


def adjust_colour(x: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
    """Multiply the channels by per-image gains (N×3, or 3 for every image)."""
    gains = torch.as_tensor(gains, dtype=x.dtype, device=x.device)
    return x * gains.reshape(-1, 3, 1, 1)


def add_haze(x: torch.Tensor, amount: torch.Tensor | float, airlight: float = HAZE_AIRLIGHT) -> torch.Tensor:
    """Atmospheric haze: blend each image towards a light-grey veil (`airlight`) by `amount`
    (0 = unchanged): the scattering model I = J·t + A·(1 - t) with t = 1 - amount."""
    a = _per_image(amount, x)
    return x * (1 - a) + airlight * a


def _blur_matrix(sigma: torch.Tensor, size: int, radius: int) -> torch.Tensor:
    """N×size×size: row i holds the Gaussian weights (σ per image) of output pixel i over the
    input pixels of one row or column, the border reflected (pixel -1 is pixel 1)."""
    n, dtype, device = sigma.shape[0], sigma.dtype, sigma.device
    d = torch.arange(-radius, radius + 1, device=device)
    k = torch.exp(-0.5 * (d.to(dtype).view(1, -1) / sigma.clamp_min(1e-3).view(n, 1)) ** 2)
    k = k / k.sum(1, keepdim=True)  # n × (2r+1)
    pos = (torch.arange(size, device=device).view(-1, 1) + d.view(1, -1)).abs()
    pos = torch.where(pos > size - 1, 2 * (size - 1) - pos, pos)
    m = torch.zeros(n, size, size, dtype=dtype, device=device)
    return m.scatter_add_(2, pos.expand(n, -1, -1), k.view(n, 1, -1).expand(-1, size, -1).contiguous())


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor | float, max_sigma: float | None = None) -> torch.Tensor:
    """Blur each image with its own Gaussian σ (pixels; 0 = unchanged), borders reflected; the
    kernel is wide enough for `max_sigma` (default: the largest σ given). Separable: each image is
    multiplied by its own blur matrix along the rows and the columns (two batched matmuls; a
    grouped convolution with one kernel per image and channel is slower on CPUs)."""
    n, c, h, w = x.shape
    sigma = _per_image(sigma, x).reshape(n)
    top = float(sigma.max()) if max_sigma is None else float(max_sigma)
    if top <= 0:
        return x
    radius = max(1, min(int(math.ceil(3 * top)), (min(h, w) - 1)))
    rows = _blur_matrix(sigma, h, radius).unsqueeze(1)
    cols = rows if w == h else _blur_matrix(sigma, w, radius).unsqueeze(1)
    return rows @ x @ cols.transpose(-1, -2)


def add_noise(x: torch.Tensor, sd: torch.Tensor | float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Add Gaussian noise with a per-image standard deviation (in units of the [0, 1] range)."""
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x + noise * _per_image(sd, x)


def rescale(x: torch.Tensor, zoom: torch.Tensor | float) -> torch.Tensor:
    """Zoom each image about its centre (zoom > 1: objects larger, as at a finer ground
    resolution; < 1: smaller, the border reflected). Bilinear, one grid_sample for the batch."""
    n = x.shape[0]
    inv = 1.0 / _per_image(zoom, x).reshape(n)
    theta = torch.zeros(n, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = inv
    theta[:, 1, 1] = inv
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


# ----------------------------------------------------------------------------------------------
# the random augmentation fit() calls
# ----------------------------------------------------------------------------------------------
def photometric(x: torch.Tensor, generator: torch.Generator,
                config: PhotometricConfig | None = None) -> torch.Tensor:
    """Randomly jitter scale, brightness, contrast, saturation, colour, haze, blur and noise per image.

    x: uint8 (0…255) or float (0…1) batch N×3×H×W on any device; `generator` lives on the same
    device. Returns a new batch of the same shape, dtype and range (uint8 rounded, float clamped
    to [0, 1]); the images not drawn for jitter (1 - p of them) pass through unchanged. The random
    draws come from `generator` alone, so a generator seeded alike gives the same result. On a
    CPU only the drawn images are computed (with p = 0.3 a third of the work: the jitter would
    otherwise cost half a SmallCNN step); a GPU computes the whole batch with neutral factors,
    which avoids reading the count of drawn images back to the host every batch."""
    config = config or PhotometricConfig()
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"photometric() needs an N×3×H×W batch, got shape {tuple(x.shape)}")
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise ValueError(f"photometric() needs a uint8 or float batch, got {x.dtype}")
    n = x.shape[0]
    if n == 0:
        return x.clone()
    work = torch.float32 if x.dtype in (torch.uint8, torch.float16, torch.bfloat16) else x.dtype
    # every scalar draw in one call, per image: apply, zoom, brightness, contrast, saturation,
    # three channel gains, haze, blur σ, noise sd (11 columns, drawn whatever the config switches off)
    u = torch.rand(n, 11, generator=generator, device=x.device, dtype=work)
    drawn = u[:, 0] < config.p
    if x.device.type != "cpu":
        return _jitter(x, u, drawn.to(work), config, generator, work)
    rows = drawn.nonzero().squeeze(1)
    out = x.clone()
    if len(rows):
        out[rows] = _jitter(x[rows], u[rows], torch.ones(len(rows), dtype=work), config, generator, work)
    return out


def _jitter(x: torch.Tensor, u: torch.Tensor, apply: torch.Tensor, config: PhotometricConfig,
            generator: torch.Generator, work: torch.dtype) -> torch.Tensor:
    """photometric()'s operations on `x` with the draws `u`; `apply` (0/1 per image) makes an
    image's factors neutral where 0."""
    n = x.shape[0]
    y = x.to(work) / 255 if x.dtype == torch.uint8 else x.to(work)

    def signed(col: int, strength: float) -> torch.Tensor:  # 1 + U(-s, s), neutral where not applied
        return 1 + apply * strength * (2 * u[:, col] - 1)

    if config.scale:
        y = rescale(y, signed(1, config.scale))
    if config.brightness:
        y = adjust_brightness(y, signed(2, config.brightness))
    if config.contrast:
        y = adjust_contrast(y, signed(3, config.contrast))
    if config.saturation:
        y = adjust_saturation(y, signed(4, config.saturation))
    if config.colour:
        gains = 1 + apply.view(n, 1) * config.colour * (2 * u[:, 5:8] - 1)
        y = adjust_colour(y, gains)
    if config.haze:
        y = add_haze(y, apply * config.haze * u[:, 8])
    if config.blur:
        y = gaussian_blur(y, apply * config.blur * u[:, 9], max_sigma=config.blur)
    if config.noise:
        y = add_noise(y, apply * config.noise * u[:, 10], generator)
    y = y.clamp(0, 1)
    if x.dtype == torch.uint8:
        return (y * 255).round_().to(torch.uint8)
    return y.to(x.dtype)
