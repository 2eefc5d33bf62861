"""Two changes that would make a ResNet18 training step faster on a CPU, measured side by side.

On 64×64 inputs ResNet18's `layer4` works on 2×2 maps. In channels_last, the backward pass of
its 512→512 convolutions copies their weights, and fused Adam (one kernel per parameter instead
of seven element-wise operations) copies every channels_last parameter it updates. layer4 holds
8.4 M of the 11.2 M parameters, so keeping that one stage in NCHW is what lets fused Adam pay.

Milliseconds per training step (batch 32, forward + backward + Adam step) of four variants:
layer4 in channels_last (today's layout) or NCHW, × Adam's default CPU implementation or fused.
They run in alternating rounds, and the bench prints the median of each with its speed-up over
today's step, once with the precision fit chooses on this CPU and once with mixed precision off
(the path every CPU without native bf16 takes). fit() is unchanged: the variants change the
numbers a run produces, so adopting them means rerunning the stored results (bench/RESULTS.md).

    python -m bench.step_variants [--rounds 8]
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python -m bench.step_variants
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn


class ContiguousStage(nn.Module):
    """A stage that runs in NCHW inside a channels_last network (its input made contiguous)."""

    def __init__(self, stage: nn.Module):
        super().__init__()
        self.stage = stage.to(memory_format=torch.contiguous_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage(x.contiguous())


def resnet18_variant(layer4_nchw: bool, seed: int = 0) -> nn.Module:
    """carcourse's ResNet18 in channels_last, with layer4 in NCHW if asked (same weights)."""
    from carcourse.models import build

    model = build("resnet18", seed=seed).to(memory_format=torch.channels_last)
    if layer4_nchw:
        model.layer4 = ContiguousStage(model.layer4)
    return model.train()


def measure(amp: bool, rounds: int = 8, steps: int = 5, batch: int = 32, size: int = 64) -> dict:
    """Median ms per step of the four variants (alternating rounds) and their speed-ups."""
    from bench.throughput import train_step

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=gen).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch,), generator=gen)
    variants = {}
    for layer4 in ("channels_last", "nchw"):
        for adam in ("default", "fused"):
            model = resnet18_variant(layer4 == "nchw")
            opt = torch.optim.Adam(model.parameters(), lr=1e-3, **({"fused": True} if adam == "fused" else {}))
            variants[f"layer4 {layer4}, adam {adam}"] = (model, opt)

    for model, opt in variants.values():  # warm-up: oneDNN picks and caches its kernels
        for _ in range(2):
            train_step(model, opt, x, y, amp)
    times = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (model, opt) in variants.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                train_step(model, opt, x, y, amp)
            times[name].append(1000 * (time.perf_counter() - t0) / steps)
    ms = {name: statistics.median(t) for name, t in times.items()}
    today = ms["layer4 channels_last, adam default"]
    return {"ms_per_step": {k: round(v, 1) for k, v in ms.items()},
            "speedup": {k: round(today / v, 3) for k, v in ms.items()}}


def main(rounds: int = 8, steps: int = 5) -> list[dict]:
    from carcourse.config import cpu_has_bf16, isa_limited

    lines = []
    for amp in ((True, False) if cpu_has_bf16() else (False,)):
        r = measure(amp, rounds=rounds, steps=steps)
        line = {"bench": "step_variants", "model": "resnet18", "cpu_bf16": cpu_has_bf16(), "amp": amp,
                "isa_limited": isa_limited(), "threads": torch.get_num_threads(), "batch": 32,
                "rounds": rounds, **r}
        for name, v in r["ms_per_step"].items():
            print(f"amp={str(amp):5s} {name:32s} {v:7.1f} ms  {r['speedup'][name]:.3f}×")
        print(json.dumps(line), flush=True)
        lines.append(line)
    return lines


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=8, help="alternating rounds (median taken)")
    p.add_argument("--steps", type=int, default=5, help="training steps per variant per round")
    a = p.parse_args()
    main(a.rounds, a.steps)
