"""How hard the synthetic set is, and what a missing kind costs (issue 18's measurements).

python docs/measure_synthetic.py [--without KIND ...] [--out FILE.json]

1. generation time of make_synthetic(quick=False) on one thread (CPU seconds and wall seconds:
   on a shared machine only the CPU seconds mean much);
2. logistic regression on raw pixels (test accuracy; the majority baseline is 945/1345 = 0.7026);
3. SmallCNN, library defaults, 6 epochs, seed 0 (--seed), last-epoch weights: test accuracy, balanced
   accuracy, ROC AUC and the per-kind error table;
4. with --without: the same SmallCNN trained on a set whose training and validation splits never
   show those not-car kinds, evaluated on the same (default) test set, per-kind table.
Takes a few minutes on 2 idle cores per model; run it on a quiet machine for timing figures.
"""
import argparse
import json
import time

import torch


def train_cnn(splits, epochs: int = 6, seed: int = 0):
    """SmallCNN with the library's defaults on splits.train (validation: splits.val)."""
    from carcourse.models import build
    from carcourse.train import TrainConfig, fit

    model = build("cnn", seed=seed)
    fit(model, splits.train, splits.val, TrainConfig(epochs=epochs, seed=seed, progress=False))
    return model


def evaluate(model, test) -> dict:
    """Test metrics and the per-kind error table of `model`."""
    from carcourse.evaluate import predict, report
    from carcourse.kinds import kind_errors

    p = predict(model, test)
    r = report(p)
    return {"accuracy": r.accuracy, "balanced_accuracy": r.balanced_accuracy, "roc_auc": r.roc_auc,
            "confusion_matrix": r.confusion_matrix,
            "kinds": kind_errors(p, test.meta).to_dict(orient="records")}


def main() -> dict:
    from sklearn.linear_model import LogisticRegression

    from carcourse.data import make_synthetic
    from carcourse.synthetic import Options

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--without", nargs="*", default=[], help="not-car kinds left out of training")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0, help="model and training seed (the data is seed 0)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    wall, cpu = time.perf_counter(), time.process_time()
    splits = make_synthetic(quick=False)
    result = {"generation_wall_seconds": time.perf_counter() - wall,
              "generation_cpu_seconds": time.process_time() - cpu}

    def flat(s):
        return s.images.reshape(len(s), -1).float().numpy() / 255.0

    clf = LogisticRegression(max_iter=300, C=0.01).fit(flat(splits.train), splits.train.labels.numpy())
    result["pixel_logreg_accuracy"] = float((clf.predict(flat(splits.test)) == splits.test.labels.numpy()).mean())
    torch.set_num_threads(threads)
    result["cnn"] = evaluate(train_cnn(splits, args.epochs, args.seed), splits.test)
    if args.without:
        without = make_synthetic(quick=False, options=Options().without(*args.without))
        result["cnn_without"] = {"kinds_left_out": args.without,
                                 **evaluate(train_cnn(without, args.epochs, args.seed), splits.test)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return result


if __name__ == "__main__":
    main()
