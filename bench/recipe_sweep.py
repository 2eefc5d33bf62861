"""Which training recipe reaches a validation accuracy soonest? Validation accuracy after every
epoch for a list of recipes (TrainConfig overrides), on the default synthetic split, plus the
final accuracy on each shifted test set (carcourse.shifts), so the choice is made on validation
and shifted data, never on the test split alone.

The measurement behind TrainConfig's default recipe (issue 19). Accuracies per epoch do not
depend on the precision much, so the sweep may run in bf16 on a bf16 CPU to save time; the
timing claims come from bench/recipe.py.

Run: python -m bench.recipe_sweep --model cnn [--seeds 0 1] [--quick] [--only NAME,...]"""
from __future__ import annotations

import argparse
import json

RECIPES = {
    "constant-1e-3-12": dict(epochs=12, lr=1e-3, schedule="constant"),
    "onecycle-3e-3-8": dict(epochs=8, lr=3e-3, schedule="onecycle"),
    "onecycle-2e-3-8": dict(epochs=8, lr=2e-3, schedule="onecycle"),
    "onecycle-5e-3-8": dict(epochs=8, lr=5e-3, schedule="onecycle"),
    "cosine-2e-3-8": dict(epochs=8, lr=2e-3, schedule="cosine"),
    "onecycle-3e-3-8-ls": dict(epochs=8, lr=3e-3, schedule="onecycle", label_smoothing=0.1),
    "adamw-onecycle-3e-3-8": dict(epochs=8, lr=3e-3, schedule="onecycle", optimizer="adamw", weight_decay=0.05),
    "onecycle-3e-3-6": dict(epochs=6, lr=3e-3, schedule="onecycle"),
    "onecycle-3e-3-10": dict(epochs=10, lr=3e-3, schedule="onecycle"),
    "cosine-1e-3-8": dict(epochs=8, lr=1e-3, schedule="cosine"),
    "cosine-1e-3-10": dict(epochs=10, lr=1e-3, schedule="cosine"),
    "cosine-1e-3-8-ls": dict(epochs=8, lr=1e-3, schedule="cosine", label_smoothing=0.1),
    "sgd-onecycle-0.05-8": dict(epochs=8, lr=0.05, schedule="onecycle", optimizer="sgd", weight_decay=5e-4),
    "cosine-5e-4-8": dict(epochs=8, lr=5e-4, schedule="cosine"),
    "cosine-1e-3-6": dict(epochs=6, lr=1e-3, schedule="cosine"),
    "adamw-cosine-1e-3-8": dict(epochs=8, lr=1e-3, schedule="cosine", optimizer="adamw", weight_decay=0.05),
    # ResNet18 only: every residual block starts as the identity (see _zero_residual)
    "cosine-1e-3-8-zero-res": dict(epochs=8, lr=1e-3, schedule="cosine", zero_residual=True),
    "cosine-2e-3-8-zero-res": dict(epochs=8, lr=2e-3, schedule="cosine", zero_residual=True),
}


def _zero_residual(model) -> None:
    """Zero the last BatchNorm scale of every residual block (torchvision's zero_init_residual),
    so each block starts as the identity and the network trains as a shallower one at first."""
    import torch
    from torchvision.models.resnet import BasicBlock

    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    if not blocks:
        raise ValueError(f"zero_residual: {type(model).__name__} has no residual blocks")
    for block in blocks:
        torch.nn.init.zeros_(block.bn2.weight)


def run(model_name: str, names: list[str], seeds: list[int], quick: bool = False) -> list[dict]:
    from carcourse.config import TrainConfig
    from carcourse.data import make_synthetic
    from carcourse.evaluate import predict, report
    from carcourse.models import build
    from carcourse.shifts import shifted_test_sets
    from carcourse.train import fit

    splits = make_synthetic(seed=0, quick=quick)
    shifted = {"test": splits.test, **shifted_test_sets(splits.test, seed=0)}
    rows = []
    for name in names:
        for seed in seeds:
            options = dict(RECIPES[name])
            zero_residual = options.pop("zero_residual", False)
            cfg = TrainConfig(**options, seed=seed, progress=False)
            model = build(model_name, seed=seed)
            if zero_residual:
                _zero_residual(model)
            h = fit(model, splits.train, splits.val, cfg)
            row = {"model": model_name, "recipe": name, "seed": seed, "val_acc": [round(a, 4) for a in h.val_acc],
                   "val_loss": [round(v, 4) for v in h.val_loss], "seconds": round(h.seconds, 1), "amp": h.amp}
            for sname, data in shifted.items():
                r = report(predict(model, data))
                row[sname] = {"acc": round(r.accuracy, 4), "bal": round(r.balanced_accuracy, 4)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--only", default=",".join(RECIPES))
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    run(a.model, a.only.split(","), a.seeds, a.quick)
