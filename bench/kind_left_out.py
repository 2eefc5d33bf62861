"""Does a model trained without one not-car kind call more of it "car"? Notebook 06, section 9,
at the exercise's sizes and with several seeds.

For each seed, the SmallCNN is trained twice with the default recipe, exactly as the comparison
trains it: on the course's split, and on the same split rendered without `--kind`
(`synthetic.Options().without(kind)`; the other kinds keep their ratios). Both models then
classify the same probe sets (`carcourse.kinds.kind_probe`: `--n` images of one kind each). The
bench prints each seed's error rates with their Wilson 95 % intervals and counts the seeds on
which the model trained without the kind errs more on it, and those on which its interval lies
wholly above the other's. Separate intervals are a conservative, unpaired criterion: both models
answer about the same images, and McNemar's test on their disagreements would be the paired one.

    python -m bench.kind_left_out [--quick] [--kind hedge] [--seeds 3] [--n 300]

About a minute per seed (two training runs and the probes) at the exercise's sizes on the course's
2-core CPU with bf16.
"""
from __future__ import annotations

import argparse
import json
import time

PROBE_KINDS = ("bare_tree", "round_structure")  # kinds that look alike from above


def run(kind: str = "hedge", seeds: int = 3, n: int = 300, quick: bool = False,
        model: str = "cnn") -> dict:
    """Train with and without `kind` for each seed and probe both; returns each seed's error
    counts and rates and the verdict (summarise), JSON-ready."""
    from carcourse import synthetic
    from carcourse.data import make_synthetic
    from carcourse.kinds import kind_probe
    from carcourse.models import build
    from carcourse.presets import preset
    from carcourse.train import TrainConfig, fit

    if kind not in synthetic.NOTCAR_KINDS:
        raise SystemExit(f"--kind {kind!r}: not a not-car kind; known: {', '.join(synthetic.NOTCAR_KINDS)}")
    epochs = preset(quick).compare_epochs
    arms = {"with": make_synthetic(seed=0, quick=quick),
            "without": make_synthetic(seed=0, quick=quick, options=synthetic.Options().without(kind))}
    assert kind not in set(arms["without"].train.meta["kind"])
    kinds = (kind,) + tuple(k for k in PROBE_KINDS if k != kind)
    per_seed = []
    t0 = time.perf_counter()
    for seed in range(seeds):
        models = {}
        for arm, splits in arms.items():
            models[arm] = build(model, seed=seed)
            fit(models[arm], splits.train, splits.val, TrainConfig(epochs=epochs, seed=seed, progress=False))
        table = kind_probe(models, kinds, n=n)
        rows = {f"{r.model} {r.kind}": int(r.errors) for r in table.itertuples()}
        per_seed.append({"seed": seed, "errors": rows})
        print(f"seed {seed}: " + ", ".join(f"{k} {v}/{n}" for k, v in rows.items()), flush=True)
    summary = summarise(per_seed, kind, n)
    print_summary(summary, kind, n, seeds)
    return {"bench": "kind_left_out", "model": model, "kind": kind, "quick": quick, "epochs": epochs,
            "seeds": seeds, "n_per_probe": n, **summary, "seconds": round(time.perf_counter() - t0, 1)}


def summarise(per_seed: list[dict], kind: str, n: int) -> dict:
    """Each seed's error rate per arm and probe kind with its Wilson 95 % interval, and the
    verdict on `kind`: on how many seeds the model trained without it errs more, and on how many
    its interval lies wholly above the other's (`seeds_without_clearly_higher`).

    The probe images are the same for every seed, so the seeds are not pooled into one interval:
    900 answers about 300 images are not 900 independent observations."""
    from carcourse.kinds import wilson_interval

    if not per_seed:
        raise ValueError("summarise: no seeds")
    intervals = {name: [(s["seed"], s["errors"][name], *wilson_interval(s["errors"][name], n)) for s in per_seed]
                 for name in per_seed[0]["errors"]}
    w, o = intervals[f"with {kind}"], intervals[f"without {kind}"]  # (seed, errors, low, high), unrounded
    rates = {name: [{"seed": seed, "errors": errors, "rate": round(errors / n, 4), "low": round(low, 4),
                     "high": round(high, 4)} for seed, errors, low, high in rows]
             for name, rows in intervals.items()}
    return {"rates": rates,
            "seeds_without_errs_more": sum(b[1] > a[1] for a, b in zip(w, o)),
            "seeds_without_clearly_higher": sum(b[2] > a[3] for a, b in zip(w, o))}


def print_summary(summary: dict, kind: str, n: int, seeds: int) -> None:
    for name, rs in summary["rates"].items():
        print(f"{name:28s} " + "  ".join(f"{r['errors']:3d}/{n} = {r['rate']:.3f} [{r['low']:.3f}, {r['high']:.3f}]"
                                         for r in rs))
    print(f"{kind}: the model trained without it errs more on {summary['seeds_without_errs_more']} of {seeds} "
          f"seeds; its Wilson interval lies wholly above the other's on {summary['seeds_without_clearly_higher']}")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kind", default="hedge", help="the not-car kind left out of training (default hedge)")
    p.add_argument("--seeds", type=int, default=3, help="training seeds 0..N-1 (default 3)")
    p.add_argument("--n", type=int, default=300, help="images per probe set (default 300, as notebook 06)")
    p.add_argument("--quick", action="store_true", help="the quick preset's sizes and epochs")
    a = p.parse_args(argv)
    if a.seeds < 1 or a.n < 1:
        p.error("--seeds and --n must be at least 1")
    line = run(a.kind, a.seeds, a.n, a.quick)
    print(json.dumps(line), flush=True)
    return line


if __name__ == "__main__":
    main()
