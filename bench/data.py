"""Synthetic data: generation time for the default split, and how hard the task is.

Difficulty: a logistic regression on raw pixels against the majority-class baseline. The CNN's
accuracy on the same split comes from `python -m carcourse compare` (see README)."""
import json
import time

import numpy as np
import torch


def main(quick: bool = False) -> dict:
    from sklearn.linear_model import LogisticRegression

    from carcourse.data import make_synthetic

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    splits = make_synthetic(quick=quick)
    one_core = time.perf_counter() - t0
    torch.set_num_threads(threads)
    n = sum(len(s) for _, s in splits.items())
    print(f"generated {n} images ({splits.summary()}) in {one_core:.2f} s on 1 thread "
          f"({n / one_core:.0f} images/s)")

    def flat(s):
        return s.images.reshape(len(s), -1).float().numpy() / 255.0

    t0 = time.perf_counter()
    clf = LogisticRegression(max_iter=300, C=0.01).fit(flat(splits.train), splits.train.labels.numpy())
    acc = float((clf.predict(flat(splits.test)) == splits.test.labels.numpy()).mean())
    majority = float(np.mean(splits.test.labels.numpy() == 0))
    print(f"logistic regression on raw pixels: test accuracy {acc:.4f} "
          f"(majority 'notcar' baseline {majority:.4f}; fit {time.perf_counter() - t0:.1f} s)")
    result = {"images": n, "seconds_one_thread": round(one_core, 3),
              "pixel_logreg_accuracy": round(acc, 4), "majority_baseline": round(majority, 4)}
    print(json.dumps({"data": result}))
    return result


if __name__ == "__main__":
    main()
