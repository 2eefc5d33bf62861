"""Two training runs side by side (one process and cores/2 threads each) against the same two runs
one after another with every thread, as `compare` makes them with workers=2 and workers=1.

Both ways train the same specs (model, seeds, epochs) on the exercise-sized split and are timed
from the first call to the last result, process start-up (a few seconds) included: the ratio
one-at-a-time seconds ÷ side-by-side seconds is what `run_compare(workers=2)` saves on this CPU
for runs of that length. `throughput_ratio` leaves start-up out: the training images/s of the
two side-by-side runs together ÷ that of one run with every thread. Short runs gain less than
it says (or lose: start-up is a fixed cost); compare's 3 seeds × 8 epochs gain about as much.

Run: python -m bench.side_by_side [--quick] [--model cnn]"""
import argparse
import json
import time


def measure(quick: bool, model: str) -> dict:
    from carcourse.config import cpu_has_bf16, isa_limited, pick_device
    from carcourse.data import make_synthetic
    from carcourse.evaluate import predict
    from carcourse.side_by_side import RunSpec, train_side_by_side

    n_train = 512 if quick else 4200
    splits = make_synthetic(n_train=n_train, n_val=128, n_test_notcar=64, n_test_car=64, seed=0)
    epochs = 1 if quick else 2
    specs = [RunSpec(model, seed, epochs, "cpu", 2) for seed in (0, 1)]
    t0, alone = time.perf_counter(), []
    for s in specs:  # what compare does with workers=1
        net = s.build()
        history = s.fit(net, splits.train, splits.val)
        predict(net, splits.test)
        alone.append(history.images_per_second)
    one_at_a_time = time.perf_counter() - t0
    t0 = time.perf_counter()
    outputs = train_side_by_side(specs, splits, workers=2)
    side_by_side = time.perf_counter() - t0
    together = sum(o.history.images_per_second for o in outputs)
    result = {"bench": "side_by_side", "model": model, "device": str(pick_device()), "cpu_bf16": cpu_has_bf16(),
              "isa_limited": isa_limited(), "amp": history.amp, "runs": len(specs), "epochs": epochs,
              "train_images": n_train, "one_at_a_time_seconds": round(one_at_a_time, 1),
              "side_by_side_seconds": round(side_by_side, 1),
              "speedup": round(one_at_a_time / side_by_side, 3),
              "images_per_second_one_at_a_time": round(sum(alone) / len(alone)),
              "images_per_second_side_by_side": round(together),
              "throughput_ratio": round(together / (sum(alone) / len(alone)), 3)}
    print(f"{model:9s} 2 runs × {epochs} epoch(s) of {n_train} images: one at a time {one_at_a_time:6.1f} s, "
          f"side by side {side_by_side:6.1f} s → {result['speedup']:.2f}×; training images/s "
          f"{result['images_per_second_one_at_a_time']} vs {result['images_per_second_side_by_side']} "
          f"together → {result['throughput_ratio']:.2f}×", flush=True)
    print(json.dumps(result), flush=True)
    return result


def main(quick: bool = False, models: tuple[str, ...] = ("cnn", "resnet18")) -> dict:
    return {"rows": [measure(quick, m) for m in models]}


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m bench.side_by_side", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--model", default=None, help="cnn or resnet18 (default: both)")
    a = p.parse_args()
    main(quick=a.quick, models=(a.model,) if a.model else ("cnn", "resnet18"))
