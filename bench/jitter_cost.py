"""What the photometric jitter costs per batch, next to what a training step costs, side by side.

For a batch of 32 uint8 64×64 images on this CPU: milliseconds per call of `photometric()` with
the default strengths (15 % of the images drawn), with every image drawn, and with each kind alone
on every image; then one SmallCNN and one ResNet18 training step (forward, backward, Adam step)
with the precision and layout fit chooses here. The ratio jitter ÷ step is what the default jitter
adds to an epoch. Run it on both CPU paths:

    python -m bench.jitter_cost
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python -m bench.jitter_cost
"""
from __future__ import annotations

import json
import time

import torch

KINDS = ("brightness", "contrast", "saturation", "colour", "haze", "blur", "noise")


def _ms(fn, repeats: int) -> float:
    """Median milliseconds of `repeats` calls after two warm-up calls."""
    fn(), fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * sorted(times)[len(times) // 2]


def measure(batch: int = 32, repeats: int = 50) -> dict:
    from dataclasses import replace

    from bench.throughput import train_step
    from carcourse.augment import PhotometricConfig, photometric
    from carcourse.batches import normalise
    from carcourse.config import cpu_has_bf16, isa_limited, resolve_precision
    from carcourse.models import build

    device = torch.device("cpu")
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (batch, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    default = PhotometricConfig()
    every = replace(default, p=1.0)
    none = {k: 0.0 for k in KINDS}
    jitter = {"default (p 0.15)": _ms(lambda: photometric(x, g, default), repeats),
              "every image (p 1)": _ms(lambda: photometric(x, g, every), repeats)}
    for kind in KINDS:
        alone = PhotometricConfig(**{**none, kind: getattr(default, kind)}, p=1.0)
        jitter[f"{kind} alone, every image"] = _ms(lambda: photometric(x, g, alone), repeats)
    amp, channels_last = resolve_precision(device, None, None)
    steps = {}
    for name in ("cnn", "resnet18"):
        model = build(name, seed=0)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        xb, yb = normalise(x, channels_last), torch.randint(0, 2, (batch,))
        steps[name] = _ms(lambda: train_step(model, opt, xb, yb, amp),
                          max(5, repeats // (10 if name == "resnet18" else 2)))
    result = {"bench": "jitter_cost", "batch": batch, "cpu_bf16": cpu_has_bf16(), "isa_limited": isa_limited(),
              "amp": amp, "channels_last": channels_last, "threads": torch.get_num_threads(),
              "jitter_ms": {k: round(v, 2) for k, v in jitter.items()},
              "step_ms": {k: round(v, 1) for k, v in steps.items()},
              "default_jitter_per_step": {k: round(jitter["default (p 0.15)"] / v, 3) for k, v in steps.items()}}
    print(f"batch {batch}, CPU bf16: {result['cpu_bf16']}, cap: {result['isa_limited']}, "
          f"{'bf16' if amp else 'fp32'}, {torch.get_num_threads()} threads")
    for k, v in jitter.items():
        print(f"  jitter, {k:34s} {v:8.2f} ms")
    for k, v in steps.items():
        print(f"  training step, {k:27s} {v:8.1f} ms   default jitter ÷ step = {jitter['default (p 0.15)'] / v:.3f}")
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    measure()
