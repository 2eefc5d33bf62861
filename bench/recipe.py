"""Time to accuracy: how long each training recipe takes to reach a target validation accuracy.

Contenders, trained on the same synthetic split, side by side in one run:
- reference: carcourse's previous recipe (constant Adam 1e-3, dihedral flips, `fit`) for its 12
  epochs (3 in quick mode), trained with the same seeds as the contenders; the target is the median
  of their last-epoch validation accuracies (`target_from_references`: one seed's last epoch can be
  a spike, as ResNet18's seed 0 was, 0.9267 → 0.955 in its 12th epoch, which made the target a
  matter of luck for every contender);
- textbook: ImageFolder + DataLoader over a PNG tree, fp32 NCHW, constant Adam 1e-3, random
  horizontal flips: what most tutorials write;
- carcourse: `fit` with today's `TrainConfig()` defaults for the comparison's epochs
  (`preset().compare_epochs`), precision and layout as the CPU allows.
Each trains epoch by epoch and is evaluated on the validation split after every epoch (the
evaluation counts in its time); its time to target is the wall time of the first epoch that
reaches the target. The textbook stops there; the reference and carcourse run to their end, and
their final test accuracies are printed side by side (the new recipe must not be less accurate).
On a CPU with native bf16, main() also runs each model with mixed precision forced off; closer
still to a laptop without bf16 is capping the instruction set for the whole run:
`ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python -m bench --only recipe` runs every
contender as an AVX2 CPU would (carcourse.config.isa_limited; the lines say `isa_limited`).
One JSON line per model:
{"bench": "recipe", "model", "cpu_bf16", "amp", "target_val_acc", "textbook_seconds",
 "carcourse_seconds", "time_to_target_ratio", ...}; a contender that never reaches the target
within its epoch cap reports null seconds and the ratio is then a lower bound ("ratio_is_lower_bound").

Reference, textbook and carcourse each train with 3 seeds (quick: 1); textbook and carcourse are
compared by their median time to the target; each seed's figures are in the line's `per_seed`.

Run: python -m bench --only recipe [--quick]   (--quick: quick-preset data, 3 reference epochs)
     python -m bench.recipe [--model cnn] [--seeds N] [--no-amp-off] [--candidate label_smoothing=0.1]
`--candidate` times a change to the default before it is adopted: carcourse trains with those
TrainConfig fields changed, and the line names them ("candidate"), so it is never read as the default.
"""
from __future__ import annotations

import json
import tempfile
import time
from dataclasses import replace

import torch
import torch.nn.functional as F


REFERENCE_EPOCHS = {False: 12, True: 3}  # the previous recipe's epochs (compare_epochs until 2026-11-29)


def _textbook(model_name: str, root: str, val, epochs: int, target: float, seed: int = 0) -> dict:
    """Train the tutorial way until the validation accuracy reaches `target` (or `epochs` end)."""
    from torchvision import datasets, transforms

    from carcourse.batches import MEAN, STD
    from carcourse.models import build

    torch.manual_seed(seed)
    model = build(model_name, seed=seed)
    tf = transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                             transforms.Normalize(MEAN, STD)])
    ds = datasets.ImageFolder(root, tf)
    # ImageFolder sorts class folders by name: car=0, notcar=1; map back to the course's labels
    car = ds.class_to_idx["car"]
    # two worker processes kept alive between epochs, as tutorials recommend for image folders
    loader = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True, num_workers=2,
                                         persistent_workers=True,
                                         generator=torch.Generator().manual_seed(seed))
    x_val = ((val.images.float() / 255) - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    accs, reached, t0 = [], None, time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        for xb, yb in loader:
            yb = (yb == car).long()  # car → 1, notcar → 0
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(x_val[i:i + 256]).argmax(1) for i in range(0, len(x_val), 256)])
        accs.append(float((pred == val.labels).float().mean()))
        if reached is None and round(accs[-1], 4) >= target:
            reached = (epoch, time.perf_counter() - t0)
            break
    return {"val_acc": [round(a, 4) for a in accs], "epochs": reached[0] if reached else None,
            "seconds": round(reached[1], 1) if reached else None,
            "seconds_run": round(time.perf_counter() - t0, 1)}


def _fit_to_target(model_name: str, splits, config, target: float | None) -> dict:
    """fit() with `config` to its end, noting the first epoch whose validation accuracy reaches
    target and the final model's test accuracy."""
    from carcourse.evaluate import predict
    from carcourse.history import Callback
    from carcourse.models import build
    from carcourse.train import fit

    class Until(Callback):
        def __init__(self):
            self.t0, self.reached = time.perf_counter(), None

        def on_epoch_end(self, epoch, history, model):
            # compared at the 4 decimals the target is quoted with: 573/600 computed in float32
            # is 0.95499998, which must count as reaching 0.955
            if target is not None and self.reached is None and round(history.val_acc[-1], 4) >= target:
                self.reached = (epoch, time.perf_counter() - self.t0)

    until = Until()
    model = build(model_name, seed=config.seed)
    h = fit(model, splits.train, splits.val, config, callbacks=[until])
    seconds_run = time.perf_counter() - until.t0
    test = predict(model, splits.test)
    return {"val_acc": [round(a, 4) for a in h.val_acc], "epochs": until.reached[0] if until.reached else None,
            "seconds": round(until.reached[1], 1) if until.reached else None,
            "seconds_run": round(seconds_run, 1), "amp": h.amp, "channels_last": h.channels_last,
            "test_acc": round(float(test.correct.float().mean()), 4)}


def time_to_target_ratio(textbook: dict, ours: dict) -> tuple[float | None, bool]:
    """(textbook seconds ÷ carcourse seconds to the target, is-a-lower-bound). A textbook run that
    never reached the target gives a lower bound (its whole run over ours); None when carcourse
    never reached it."""
    if ours["seconds"] is None:
        return None, False
    if textbook["seconds"] is None:
        return textbook["seconds_run"] / ours["seconds"], True
    return textbook["seconds"] / ours["seconds"], False


def median_time_to_target(runs: list[dict]) -> dict:
    """Several seeds' runs as one contender: {"seconds": the median time to the target, or None
    when the median run never reached it; "seconds_run": the same median counting a run that never
    got there as its whole run (a lower bound)}, the shape time_to_target_ratio() takes."""
    def median(values):
        return sorted(values)[(len(values) - 1) // 2]

    inf = float("inf")
    reached = median([r["seconds"] if r["seconds"] is not None else inf for r in runs])
    return {"seconds": None if reached == inf else reached,
            "seconds_run": median([r["seconds"] if r["seconds"] is not None else r["seconds_run"] for r in runs])}


def target_from_references(runs: list[dict]) -> float:
    """The validation accuracy the previous recipe reaches at its last epoch, over its seeds: the
    median (for an even count the lower middle one, a value at least half the seeds reach)."""
    if not runs:
        raise ValueError("no reference runs to take a target from")
    last = sorted(r["val_acc"][-1] for r in runs)
    return last[(len(last) - 1) // 2]


def parse_candidate(text: str) -> dict:
    """"label_smoothing=0.1,lr=5e-4" → {"label_smoothing": 0.1, "lr": 0.0005}: TrainConfig fields a
    candidate recipe changes (values read as JSON when they parse, else as strings). An unknown
    field or a bad value raises ValueError naming it."""
    from dataclasses import fields

    from carcourse.config import TrainConfig

    known = {f.name for f in fields(TrainConfig)} - {"amp", "seed", "progress", "device"}  # the bench sets these
    changes = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in known:
            raise ValueError(f"--candidate {item!r}: expected FIELD=VALUE with a TrainConfig field "
                             f"({', '.join(sorted(known))})")
        try:
            changes[key] = json.loads(value)
        except json.JSONDecodeError:
            changes[key] = value
    try:
        TrainConfig(**changes)  # checks the values now, not after the reference runs
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--candidate {text!r}: {exc}") from None
    return changes


def run_model(model_name: str, quick: bool = False, amp: bool | None = None, seeds: int | None = None,
              candidate: dict | None = None) -> dict:
    """Target from the previous recipe (median over `seeds` seeds); textbook and carcourse each
    trained with `seeds` seeds (default 3, quick 1), compared by their median time to the target:
    one seed crossing a one-epoch target decides little (a single lucky epoch moved a ratio from 3×
    to 2.35×). `candidate`: TrainConfig fields changed from the default for carcourse's runs."""
    from carcourse.config import TrainConfig, cpu_has_bf16, isa_limited
    from carcourse.data import Splits, make_synthetic, save_folder
    from carcourse.presets import preset

    P = preset(quick)
    seeds = seeds if seeds is not None else (1 if quick else 3)
    splits = make_synthetic(seed=0, quick=quick)
    ref_epochs = REFERENCE_EPOCHS[quick]
    cap = 2 * ref_epochs
    ref_cfg = TrainConfig(epochs=ref_epochs, lr=1e-3, schedule="constant", photometric=False, amp=amp,
                          progress=False)  # the previous recipe exactly: flips only
    references = [_fit_to_target(model_name, splits, replace(ref_cfg, seed=seed), target=None)
                  for seed in range(seeds)]
    target = target_from_references(references)
    ours_cfg = TrainConfig(**{"epochs": P.compare_epochs, **(candidate or {})}, amp=amp, progress=False)
    ours_runs, textbook_runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        save_folder(Splits(splits.train, None, splits.test.subset(2)), tmp)
        for seed in range(seeds):
            ours_runs.append(_fit_to_target(model_name, splits, replace(ours_cfg, seed=seed), target))
            textbook_runs.append(_textbook(model_name, f"{tmp}/train", splits.val, cap, target, seed=seed))
    textbook, ours_median = median_time_to_target(textbook_runs), median_time_to_target(ours_runs)
    ratio, lower = time_to_target_ratio(textbook, ours_median)
    ours = ours_runs[0]

    def median_epochs(runs):
        e = sorted(r["epochs"] if r["epochs"] is not None else 10 ** 6 for r in runs)[(len(runs) - 1) // 2]
        return None if e == 10 ** 6 else e

    recipe = ours_cfg.to_dict()
    line = {"bench": "recipe", "model": model_name, "cpu_bf16": cpu_has_bf16(), "amp": ours["amp"],
            "channels_last": ours["channels_last"], "quick": quick, "target_val_acc": round(target, 4),
            "target_from": (f"constant Adam 1e-3, {ref_epochs} epochs (previous carcourse recipe): last-epoch "
                            f"validation accuracy, median over {seeds} seed(s)"),
            "reference_last_val_acc": [r["val_acc"][-1] for r in references],
            "seeds": seeds, "statistic": f"median over {seeds} seed(s)" if seeds > 1 else "one seed",
            "textbook_seconds": textbook["seconds"], "carcourse_seconds": ours_median["seconds"],
            "time_to_target_ratio": round(ratio, 2) if ratio is not None else None,
            "ratio_is_lower_bound": lower, "textbook_epochs": median_epochs(textbook_runs),
            "carcourse_epochs": median_epochs(ours_runs), "carcourse_runs_reaching_target": sum(r["seconds"] is not None for r in ours_runs),
            "textbook_runs_reaching_target": sum(r["seconds"] is not None for r in textbook_runs),
            "textbook_epoch_cap": cap,
            "carcourse_recipe": {k: recipe[k] for k in ("epochs", "lr", "schedule", "warmup", "optimizer",
                                                        "augment", "photometric", "label_smoothing",
                                                        "weight_decay")},
            "candidate": candidate or None,
            "test_acc": {"reference": round(sum(r["test_acc"] for r in references) / seeds, 4),
                         "carcourse": round(sum(r["test_acc"] for r in ours_runs) / seeds, 4)},
            "per_seed": [{"seed": k, "textbook_seconds": t["seconds"], "textbook_epochs": t["epochs"],
                          "carcourse_seconds": o["seconds"], "carcourse_epochs": o["epochs"],
                          "carcourse_test_acc": o["test_acc"], "val_acc": {"textbook": t["val_acc"],
                                                                           "carcourse": o["val_acc"]}}
                         for k, (t, o) in enumerate(zip(textbook_runs, ours_runs))],
            "seconds_run": {"reference": round(sum(r["seconds_run"] for r in references), 1),
                            "carcourse": round(sum(r["seconds_run"] for r in ours_runs), 1),
                            "textbook": round(sum(r["seconds_run"] for r in textbook_runs), 1)},
            "isa_limited": isa_limited(),
            "val_acc": {"reference": [r["val_acc"] for r in references]},
            "threads": torch.get_num_threads()}
    print(json.dumps(line), flush=True)
    return line


def main(quick: bool = False, models: tuple[str, ...] = ("cnn", "resnet18"), seeds: int | None = None,
         amp_off: bool = True, candidate: dict | None = None) -> dict:
    """Both models with the precision fit chooses here; on a CPU with native bf16 also with mixed
    precision forced off (the path of every fp32-only CPU) unless `amp_off` is False."""
    from carcourse.config import cpu_has_bf16

    lines = []
    for model_name in models:
        lines.append(run_model(model_name, quick=quick, seeds=seeds, candidate=candidate))
        if cpu_has_bf16() and amp_off:
            lines.append(run_model(model_name, quick=quick, amp=False, seeds=seeds, candidate=candidate))
    if candidate:
        print(f"carcourse = a candidate, not the default: TrainConfig changed by {candidate}")
    print(f"{'model':9s} {'bf16 cpu':8s} {'amp':5s} {'target':>7s} {'textbook s':>11s} {'carcourse s':>12s} "
          f"{'ratio':>7s} {'test acc old/new':>17s}")
    for r in lines:
        ratio = "-" if r["time_to_target_ratio"] is None else (
            (">=" if r["ratio_is_lower_bound"] else "") + f"{r['time_to_target_ratio']:.2f}")
        acc = f"{r['test_acc']['reference']:.4f}/{r['test_acc']['carcourse']:.4f}"
        print(f"{r['model']:9s} {str(r['cpu_bf16']):8s} {str(r['amp']):5s} {r['target_val_acc']:7.4f} "
              f"{str(r['textbook_seconds']):>11s} {str(r['carcourse_seconds']):>12s} {ratio:>7s} {acc:>17s}")
    return {"rows": lines}


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(prog="python -m bench.recipe")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--model", default=None, help="cnn or resnet18 (default: both)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per contender (default 3, quick 1)")
    p.add_argument("--no-amp-off", action="store_true",
                   help="on a bf16 CPU, skip the lines with mixed precision forced off")
    p.add_argument("--candidate", default="",
                   help="TrainConfig fields to change for carcourse's runs, e.g. label_smoothing=0.1")
    a = p.parse_args()
    try:
        changes = parse_candidate(a.candidate)
    except ValueError as exc:
        p.error(str(exc))
    main(quick=a.quick, models=(a.model,) if a.model else ("cnn", "resnet18"), seeds=a.seeds,
         amp_off=not a.no_amp_off, candidate=changes)
