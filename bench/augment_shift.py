"""Does photometric augmentation pay under shift? Train the same model with the flips alone (the 8
dihedral symmetries, TrainConfig(photometric=False)) and with photometric jitter on top
(TrainConfig.photometric, the path fit() takes; by default PhotometricConfig(), the library's
default jitter), same seeds, and print side by side: unshifted test accuracy and every shifted
test set's balanced accuracy, the worst shift named, the share of images called car (a threshold
that moved shows there, while ROC AUC shows whether the ranking held), and each seed's paired
difference.

The shifted test sets are the generator's (carcourse.shifts: smaller / larger cars, atmosphere,
low sun, roofs and grass), rendered, not filtered, so the augmentation never saw them. The same
shifts of the validation split (another seed) are reported too: choose strengths on those.

`unshifted_large` is a fresh unshifted sample four times the test split's size (same class
shares, a seed no split uses): every arm is scored on the same 1345 test images, so a gap of half
a point there can be those images' luck (about 7 images); the larger sample says whether an
unshifted cost is real.

`--set haze=0.15,p=0.5` tries other strengths (a PhotometricConfig; unnamed strengths keep their
defaults, so `--set haze=0,blur=0,noise=0` is the default's colour and light jitter alone); every
arm trains through fit(), with TrainConfig(photometric=those strengths). `--save` writes every run;
`--first-seed 3 --seeds 2` adds seeds 3 and 4 to an earlier run and `--merge` joins the two.

Run: python -m bench.augment_shift [--quick] [--model cnn] [--epochs N] [--seeds N] [--first-seed N]
     [--device cuda] [--save result.json]
     python -m bench.augment_shift --merge seeds012.json seeds34.json --save all.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from carcourse.augment import PhotometricConfig
from carcourse.data import ImageSet
from carcourse.shifts import shifted_test_sets

LARGE_SEED = 990  # the large unshifted sample; make_synthetic uses 1000·seed + 17-19, shifts 1000·seed + 500-504


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
        config: PhotometricConfig | None = None, device: str | None = None, first_seed: int = 0) -> dict:
    """Train baseline and photometric runs per seed (first_seed, first_seed + 1, ...); return every
    set's metrics and a summary."""
    from carcourse.config import cpu_has_bf16, hardware, isa_limited, versions
    from carcourse.data import make_synthetic, synthetic_set
    from carcourse.models import build
    from carcourse.train import TrainConfig, fit

    config = config or PhotometricConfig()
    epochs = epochs or (3 if quick else TrainConfig().epochs)
    seeds = seeds or (1 if quick else 3)
    splits = make_synthetic(quick=quick, seed=0)
    counts = splits.test.class_counts()
    large = synthetic_set(4 * counts["notcar"], 4 * counts["car"], seed=LARGE_SEED,
                          size=splits.test.images.shape[-1])
    sets = {"unshifted": splits.test, "unshifted_large": large, **shifted_test_sets(splits.test)}
    # the same shifts of the validation split: choose strengths on these, report the test sets
    val_sets = {"unshifted": splits.val, **shifted_test_sets(splits.val, seed=1)}
    runs = {"baseline": [], "photometric": []}
    for seed in range(first_seed, first_seed + seeds):
        for arm in runs:
            net = build(model_name, seed=seed)
            cfg = TrainConfig(epochs=epochs, seed=seed, device=device, progress=False,
                              photometric=config if arm == "photometric" else False)
            t0 = time.perf_counter()
            history = fit(net, splits.train, splits.val, cfg)
            metrics = _evaluate(net, sets)
            runs[arm].append({"seed": seed, "seconds": time.perf_counter() - t0,
                              "best_epoch": history.best_epoch, "sets": metrics,
                              "val_sets": _evaluate(net, val_sets)})
    return {"bench": "augment_shift", "model": model_name, "quick": quick, "epochs": epochs,
            "seeds": seeds, "first_seed": first_seed, "shifts": "carcourse.shifts (rendered by the generator)",
            "photometric": config.to_dict(), "summary": summarise(runs), "runs": runs,
            "hardware": {**hardware(device), "cpu_bf16": cpu_has_bf16(), "isa_limited": isa_limited()},
            "versions": versions()}


def summarise(runs: dict[str, list[dict]]) -> dict:
    """Per arm: the means over seeds, the worst shift (test and validation), and, for the jittered
    arm, the paired per-seed differences against the baseline (the same seed trained both ways)."""
    summary = {}
    for arm, rs in runs.items():
        names, val_names = list(rs[0]["sets"]), list(rs[0]["val_sets"])
        mean = {name: {k: sum(r["sets"][name][k] for r in rs) / len(rs) for k in rs[0]["sets"][name]}
                for name in names}
        val = {name: sum(r["val_sets"][name]["balanced_accuracy"] for r in rs) / len(rs) for name in val_names}
        worst = min((n for n in names if not n.startswith("unshifted")), key=lambda n: mean[n]["balanced_accuracy"])
        val_worst = min((n for n in val_names if n != "unshifted"), key=val.get)
        summary[arm] = {"unshifted_accuracy": mean["unshifted"]["accuracy"],
                        "unshifted_large_accuracy": mean["unshifted_large"]["accuracy"], "worst_shift": worst,
                        "worst_shift_balanced_accuracy": mean[worst]["balanced_accuracy"], "mean": mean,
                        "val_unshifted_balanced_accuracy": val["unshifted"], "val_worst_shift": val_worst,
                        "val_worst_shift_balanced_accuracy": val[val_worst],
                        "seconds": sum(r["seconds"] for r in rs) / len(rs)}
    base, jit = runs["baseline"], runs["photometric"]
    if [r["seed"] for r in base] == [r["seed"] for r in jit]:
        worst = summary["baseline"]["worst_shift"]  # the shift the baseline fails most: did the jitter lift it?

        def gain(name, metric):  # jittered minus baseline, seed by seed
            return [j["sets"][name][metric] - b["sets"][name][metric] for b, j in zip(base, jit)]

        summary["paired"] = {"seeds": [r["seed"] for r in base],
                             "unshifted_accuracy": gain("unshifted", "accuracy"),
                             "unshifted_large_accuracy": gain("unshifted_large", "accuracy"),
                             "baseline_worst_shift": worst,
                             "baseline_worst_shift_balanced_accuracy": gain(worst, "balanced_accuracy")}
    return summary


def merge(results: list[dict]) -> dict:
    """One result from several runs of the same arms on other seeds (`--first-seed`), as if run at once;
    refused when their settings, machines or versions differ (results saved before the machine was
    recorded have none)."""
    first = results[0]
    for r in results[1:]:
        for key in ("model", "quick", "epochs", "photometric", "hardware", "versions"):
            if r.get(key) != first.get(key):
                raise ValueError(f"cannot merge augment_shift results with different {key}: "
                                 f"{first.get(key)!r} and {r.get(key)!r}")
    runs = {arm: sorted((run for r in results for run in r["runs"][arm]), key=lambda run: run["seed"])
            for arm in first["runs"]}
    seeds = [run["seed"] for run in runs["baseline"]]
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise ValueError(f"cannot merge augment_shift results: seed(s) {twice} appear twice")
    return {**first, "seeds": len(seeds), "first_seed": min(seeds), "summary": summarise(runs), "runs": runs}


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
        lines.append(f"{arm:12s} unshifted accuracy {s[arm]['unshifted_accuracy']:.4f} "
                     f"(large sample {s[arm]['unshifted_large_accuracy']:.4f})   worst shift "
                     f"{s[arm]['worst_shift']!r}: balanced accuracy {s[arm]['worst_shift_balanced_accuracy']:.4f}"
                     f"   ({s[arm]['seconds']:.0f} s per run)")
    for arm in ("baseline", "photometric"):
        lines.append(f"{arm:12s} validation: unshifted balanced accuracy "
                     f"{s[arm]['val_unshifted_balanced_accuracy']:.4f}   worst shift {s[arm]['val_worst_shift']!r}: "
                     f"{s[arm]['val_worst_shift_balanced_accuracy']:.4f}")
    for arm in ("baseline", "photometric"):
        worst = s[arm]["worst_shift"]
        per_seed = [f"{r['sets']['unshifted']['accuracy']:.4f}/{r['sets']['unshifted_large']['accuracy']:.4f}/"
                    f"{r['sets'][worst]['balanced_accuracy']:.4f}" for r in result["runs"][arm]]
        lines.append(f"{arm:12s} per seed (unshifted acc / large sample acc / {worst} bal. acc): "
                     f"{'  '.join(per_seed)}")
    if "paired" in s:
        d = s["paired"]

        def points(values):
            return " ".join(f"{100 * v:+.2f}" for v in values)

        lines.append(f"jitter − baseline, points, seeds {d['seeds']}: unshifted {points(d['unshifted_accuracy'])} | "
                     f"large sample {points(d['unshifted_large_accuracy'])} | {d['baseline_worst_shift']} "
                     f"{points(d['baseline_worst_shift_balanced_accuracy'])}")
    return "\n".join(lines)


def main(quick: bool = False, argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.augment_shift", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="quick split, 3 epochs, 1 seed")
    p.add_argument("--model", default="cnn", choices=("cnn", "resnet18"))
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--set", default="", help="photometric strengths, e.g. haze=0.15,p=0.5")
    p.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1 "
                   "(more seeds for an earlier run without retraining it)")
    p.add_argument("--save", default=None, help="also write the whole result, every run, as JSON here")
    p.add_argument("--merge", nargs="+", default=None, metavar="RESULT.json",
                   help="train nothing: merge results saved with --save (other seeds, same setting)")
    args = p.parse_args([] if argv is None else argv)
    try:
        strengths = {k.strip(): float(v) for k, v in (kv.split("=") for kv in args.set.split(",") if kv.strip())}
        config = PhotometricConfig(**strengths)
    except (ValueError, TypeError) as exc:
        p.error(f"--set {args.set!r}: {exc}")
    if args.merge:
        result = merge([json.loads(Path(f).read_text()) for f in args.merge])
    else:
        result = run(args.model, quick=quick or args.quick, epochs=args.epochs, seeds=args.seeds,
                     config=config, device=args.device, first_seed=args.first_seed)
    if args.save:
        with open(args.save, "w") as f:
            json.dump(result, f, indent=1)
    print(table(result))
    line = {k: v for k, v in result.items() if k != "runs"}
    line["summary"] = {arm: {k: v for k, v in s.items() if k != "mean"} for arm, s in result["summary"].items()}
    print(json.dumps(line))
    return result


if __name__ == "__main__":
    main(argv=sys.argv[1:])
