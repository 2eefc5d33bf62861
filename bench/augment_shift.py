"""Does photometric augmentation pay under shift? Train the same model with the default
augmentation (the 8 dihedral symmetries) and with photometric jitter added, same seeds, and print
side by side: unshifted test accuracy and every shifted test set's balanced accuracy, the worst
shift named.

The shifted test sets here are STAND-INS made from the test split with carcourse.augment's
deterministic building blocks (darker, hazy, blurred and noisy, colour cast, smaller objects),
each beyond the range the augmentation trains on. Because they come from the same family of
image operations as the augmentation, they are the easy case for it; the generator's rendered
shifts (issue 15 item 3) are the real test: swap them in at `shifted_sets`.

photometric() is not wired into fit() yet, so it rides here in a wrapper module that, in training
mode only, undoes the normalisation, augments, and normalises again: the same batch path as
wiring it into fit() after augment_dihedral. Evaluation (eval mode) passes straight through.

Run: python -m bench.augment_shift [--quick] [--model cnn] [--epochs N] [--seeds N]
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch
from torch import nn

from carcourse.augment import (PhotometricConfig, add_haze, add_noise, adjust_brightness, adjust_colour,
                               adjust_contrast, adjust_saturation, gaussian_blur, photometric, rescale)
from carcourse.data import ImageSet

try:  # the architecture refactor moves the batch helpers to carcourse.batches
    from carcourse.batches import MEAN, STD
except ImportError:
    from carcourse.train import MEAN, STD


# ----------------------------------------------------------------------------------------------
# stand-in shifted test sets
# ----------------------------------------------------------------------------------------------
def _dark(x, g):
    return adjust_brightness(x, 0.55)


def _haze(x, g):
    return add_haze(adjust_contrast(x, 0.5), 0.45)  # flat light and a thick veil


def _blur_noise(x, g):
    return add_noise(gaussian_blur(x, 1.6), 0.06, g)


def _colour_cast(x, g):
    return adjust_colour(adjust_saturation(x, 0.5), torch.tensor([1.15, 1.0, 0.8]))


def _smaller(x, g):
    return rescale(x, 0.75)


SHIFTS = {"dark": _dark, "haze": _haze, "blur+noise": _blur_noise, "colour cast": _colour_cast,
          "smaller objects": _smaller}


def shifted_sets(test: ImageSet, seed: int = 0) -> dict[str, ImageSet]:
    """Named shifted copies of the test split (same images, labels and class counts)."""
    x = test.images.float() / 255
    out = {}
    for k, (name, fn) in enumerate(SHIFTS.items()):
        g = torch.Generator().manual_seed(seed * 100 + k)
        y = (fn(x, g).clamp(0, 1) * 255).round().to(torch.uint8)
        out[name] = ImageSet(y, test.labels.clone(), test.classes)
    return out


# ----------------------------------------------------------------------------------------------
# training with photometric augmentation, without touching fit()
# ----------------------------------------------------------------------------------------------
class PhotometricInput(nn.Module):
    """Wrap a model: in training mode, the normalised batch is mapped back to [0, 1], augmented
    with photometric(), and normalised again; in eval mode the input passes through."""

    def __init__(self, model: nn.Module, config: PhotometricConfig, seed: int):
        super().__init__()
        self.model, self.config, self.seed = model, config, seed
        self.generator: torch.Generator | None = None
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            if self.generator is None or self.generator.device != x.device:
                self.generator = torch.Generator(device=x.device).manual_seed(self.seed + 2)
            x01 = (x.float() * self.std + self.mean).clamp(0, 1)
            x = ((photometric(x01, self.generator, self.config) - self.mean) / self.std).to(x.dtype)
        return self.model(x)


def _evaluate(model, sets: dict[str, ImageSet]) -> dict[str, dict[str, float]]:
    from carcourse.evaluate import predict, report

    out = {}
    for name, data in sets.items():
        r = report(predict(model, data))
        car = r.predictions.predicted.float().mean().item()
        out[name] = {"accuracy": r.accuracy, "balanced_accuracy": r.balanced_accuracy,
                     "roc_auc": r.roc_auc, "share_called_car": car}
    return out


def run(model_name: str = "cnn", quick: bool = True, epochs: int | None = None, seeds: int | None = None,
        config: PhotometricConfig | None = None, device: str | None = None) -> dict:
    """Train baseline and photometric runs per seed; return every set's metrics and a summary."""
    from carcourse.data import make_synthetic
    from carcourse.models import build
    from carcourse.train import TrainConfig, fit

    config = config or PhotometricConfig()
    epochs = epochs or (3 if quick else 12)
    seeds = seeds or (1 if quick else 3)
    splits = make_synthetic(quick=quick, seed=0)
    sets = {"unshifted": splits.test, **shifted_sets(splits.test)}
    # the same shifts of the validation split: choose strengths on these, report the test sets
    val_sets = {"unshifted": splits.val, **shifted_sets(splits.val, seed=1)}
    runs = {"baseline": [], "photometric": []}
    for seed in range(seeds):
        for arm in runs:
            net = build(model_name, seed=seed)
            trained = PhotometricInput(net, config, seed) if arm == "photometric" else net
            cfg = TrainConfig(epochs=epochs, seed=seed, device=device, progress=False)
            t0 = time.perf_counter()
            history = fit(trained, splits.train, splits.val, cfg)
            metrics = _evaluate(net, sets)
            runs[arm].append({"seed": seed, "seconds": time.perf_counter() - t0,
                              "best_epoch": history.best_epoch, "sets": metrics,
                              "val_sets": _evaluate(net, val_sets)})
    summary = {}
    for arm, rs in runs.items():
        mean = {name: {k: sum(r["sets"][name][k] for r in rs) / len(rs) for k in rs[0]["sets"][name]}
                for name in sets}
        val = {name: sum(r["val_sets"][name]["balanced_accuracy"] for r in rs) / len(rs) for name in val_sets}
        worst = min((n for n in sets if n != "unshifted"), key=lambda n: mean[n]["balanced_accuracy"])
        val_worst = min((n for n in val_sets if n != "unshifted"), key=val.get)
        summary[arm] = {"unshifted_accuracy": mean["unshifted"]["accuracy"], "worst_shift": worst,
                        "worst_shift_balanced_accuracy": mean[worst]["balanced_accuracy"], "mean": mean,
                        "val_unshifted_balanced_accuracy": val["unshifted"], "val_worst_shift": val_worst,
                        "val_worst_shift_balanced_accuracy": val[val_worst],
                        "seconds": sum(r["seconds"] for r in rs) / len(rs)}
    return {"bench": "augment_shift", "model": model_name, "quick": quick, "epochs": epochs,
            "seeds": seeds, "shifts": "stand-in (carcourse.augment operations on the test split)",
            "photometric": config.to_dict(), "summary": summary, "runs": runs}


def table(result: dict) -> str:
    """Side by side per set: accuracy / balanced accuracy / ROC AUC / share called car."""
    s = result["summary"]
    lines = [f"{result['model']}, {result['epochs']} epochs, {result['seeds']} seed(s), mean over seeds",
             f"{'test set':18s} {'baseline (dihedral only)':>34s}   {'+ photometric':>34s}",
             f"{'':18s} {'acc':>7s} {'bal.acc':>8s} {'AUC':>7s} {'car%':>6s}   "
             f"{'acc':>7s} {'bal.acc':>8s} {'AUC':>7s} {'car%':>6s}"]
    for name in s["baseline"]["mean"]:
        cells = []
        for arm in ("baseline", "photometric"):
            m = s[arm]["mean"][name]
            cells.append(f"{m['accuracy']:7.4f} {m['balanced_accuracy']:8.4f} {m['roc_auc']:7.4f} "
                         f"{100 * m['share_called_car']:5.1f}%")
        lines.append(f"{name:18s} {cells[0]}   {cells[1]}")
    for arm in ("baseline", "photometric"):
        lines.append(f"{arm:12s} unshifted accuracy {s[arm]['unshifted_accuracy']:.4f}   worst shift "
                     f"{s[arm]['worst_shift']!r}: balanced accuracy {s[arm]['worst_shift_balanced_accuracy']:.4f}"
                     f"   ({s[arm]['seconds']:.0f} s per run)")
    for arm in ("baseline", "photometric"):
        lines.append(f"{arm:12s} validation: unshifted balanced accuracy "
                     f"{s[arm]['val_unshifted_balanced_accuracy']:.4f}   worst shift {s[arm]['val_worst_shift']!r}: "
                     f"{s[arm]['val_worst_shift_balanced_accuracy']:.4f}")
    for arm in ("baseline", "photometric"):
        worst = s[arm]["worst_shift"]
        per_seed = [f"{r['sets']['unshifted']['accuracy']:.4f}/{r['sets'][worst]['balanced_accuracy']:.4f}"
                    for r in result["runs"][arm]]
        lines.append(f"{arm:12s} per seed (unshifted acc / {worst} bal. acc): {'  '.join(per_seed)}")
    return "\n".join(lines)


def main(quick: bool = False, argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.augment_shift", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="quick split, 3 epochs, 1 seed")
    p.add_argument("--model", default="cnn", choices=("cnn", "resnet18"))
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--set", default="", help="photometric strengths, e.g. haze=0.15,p=0.5")
    args = p.parse_args([] if argv is None else argv)
    try:
        strengths = {k.strip(): float(v) for k, v in (kv.split("=") for kv in args.set.split(",") if kv.strip())}
        config = PhotometricConfig(**strengths)
    except (ValueError, TypeError) as exc:
        p.error(f"--set {args.set!r}: {exc}")
    result = run(args.model, quick=quick or args.quick, epochs=args.epochs, seeds=args.seeds,
                 config=config, device=args.device)
    print(table(result))
    line = {k: v for k, v in result.items() if k != "runs"}
    line["summary"] = {arm: {k: v for k, v in s.items() if k != "mean"} for arm, s in result["summary"].items()}
    print(json.dumps(line))
    return result


if __name__ == "__main__":
    main(argv=sys.argv[1:])
