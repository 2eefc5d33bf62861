"""Training throughput measured side by side on one model and batch size:

- fit() ÷ a bare forward/backward/step loop over the same in-memory tensors doing the same
  augmentation work (pipeline efficiency: fit's overhead), and both without augmentation
- fit() ÷ the textbook loop: torchvision ImageFolder + DataLoader + NCHW fp32 on a PNG tree.

Run: python -m bench.throughput [--quick] [--model cnn]"""
import argparse
import json
import tempfile
import time

import torch
import torch.nn.functional as F


def train_step(model, opt, xb, yb, amp: bool) -> torch.Tensor:
    """One optimizer step and nothing else: forward (bf16 autocast when `amp`), cross-entropy,
    backward, update. The step every bare measurement in bench/ times; returns the loss."""
    with torch.autocast(xb.device.type, torch.bfloat16, enabled=amp):
        loss = F.cross_entropy(model(xb).float(), yb)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def bare_loop(model, images, labels, batch, amp, channels_last, device, augment=None):
    """The fastest honest loop: no bookkeeping. Without `augment` the data is normalised once, on
    the device. With `augment` (a TrainConfig) every batch gets the augmentation that config gives
    fit (the flips on the uint8 batch, its jitter if any, then normalisation), so fit ÷ bare
    measures fit's overhead, not the augmentation's cost."""
    from carcourse.augment import photometric
    from carcourse.batches import augment_dihedral, normalise

    flips = augment is not None and augment.augment
    jitter = flips and augment.photometric
    y = labels.to(device)
    x = images.to(device) if flips else normalise(images.to(device), channels_last)
    gen = torch.Generator(device=device).manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model.train()
    perm = torch.randperm(len(y), device=device)
    t0 = time.perf_counter()
    if flips:
        bits = torch.rand(len(y), 3, device=device, generator=gen) < 0.5
    for i in range(0, len(y), batch):
        idx = perm[i:i + batch]
        xb = x[idx]
        if flips:
            xb = augment_dihedral(xb, bits[i:i + batch])
            if jitter:
                xb = photometric(xb, gen, jitter)
            xb = normalise(xb, channels_last)
        loss = train_step(model, opt, xb, y[idx], amp)
    float(loss.detach())  # wait for the device
    return len(y) / (time.perf_counter() - t0)


def _textbook_loop(model, root, batch, workers):
    """What most tutorials write: ImageFolder + DataLoader + ToTensor/Normalize, NCHW fp32."""
    from torchvision import datasets, transforms

    from carcourse.batches import MEAN, STD

    ds = datasets.ImageFolder(root, transforms.Compose([transforms.RandomHorizontalFlip(),
                                                        transforms.ToTensor(),
                                                        transforms.Normalize(MEAN, STD)]))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers,
                                         persistent_workers=False)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model.train()
    model.to(memory_format=torch.contiguous_format)
    t0 = time.perf_counter()
    n = 0
    for xb, yb in loader:
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += len(yb)
    return n / (time.perf_counter() - t0)


def layout_sweep(quick: bool = False, batch: int = 32) -> list[dict]:
    """fit() images/s for NCHW vs channels_last × fp32 vs bf16 (× torch.compile for the device's
    default precision and layout), for the SmallCNN and both ResNet18 stems, on the same images:
    the measurement behind TrainConfig's defaults. Each contender trains two epochs; images/s is
    the second epoch's (after warm-up and, with compile, after compiling), and the compile time
    is the first epoch's excess over the second."""
    from carcourse.config import pick_device, resolve_precision
    from carcourse.data import make_synthetic
    from carcourse.models import build
    from carcourse.train import TrainConfig, fit

    device = pick_device()
    default_amp, default_cl = resolve_precision(device)
    data = make_synthetic(n_train=256 if quick else 512, n_val=0, n_test_notcar=1, n_test_car=1).train
    models = [("cnn", "cnn", {}, len(data)),
              ("resnet18 stem=imagenet", "resnet18", {"stem": "imagenet"}, len(data))]
    if not quick:
        models.append(("resnet18 stem=small", "resnet18", {"stem": "small"}, 64))
    rows = []
    for label, name, options, n in models:
        subset = data.subset(n, seed=0)
        combos = [(amp, cl, False) for amp in (False, True) for cl in (False, True)]
        if not quick or name == "cnn":
            combos.append((default_amp, default_cl, True))
        for amp, cl, compiled in combos:
            cfg = TrainConfig(epochs=2, batch_size=batch, amp=amp, channels_last=cl, compile=compiled,
                              progress=False)
            h = fit(build(name, **options), subset, config=cfg)
            ips = len(subset) / h.epoch_seconds[1]
            row = {"model": label, "dtype": "bf16" if amp else "fp32", "layout": "channels_last" if cl else "NCHW",
                   "compile": compiled, "images_per_second": round(ips, 1),
                   "compile_seconds": round(h.epoch_seconds[0] - h.epoch_seconds[1], 1) if compiled else None}
            rows.append(row)
            extra = f"  (compile {row['compile_seconds']} s)" if compiled else ""
            print(f"{label:24s} {row['dtype']:5s} {row['layout']:14s} compile={str(compiled):5s} "
                  f"{ips:8.1f} images/s{extra}", flush=True)
    return rows


def sweep_main(quick: bool = False) -> dict:
    rows = layout_sweep(quick=quick)
    best = {}
    for r in rows:
        if r["model"] not in best or r["images_per_second"] > best[r["model"]]["images_per_second"]:
            best[r["model"]] = r
    for model, r in best.items():
        base = next(x for x in rows if x["model"] == model and x["dtype"] == "fp32" and x["layout"] == "NCHW"
                    and not x["compile"])
        print(f"{model}: fastest {r['dtype']} {r['layout']} compile={r['compile']}: "
              f"{r['images_per_second'] / base['images_per_second']:.2f}× fp32 NCHW")
    return {"rows": rows}


def measure(quick: bool = False, model_name: str = "cnn", batch: int = 32, amp: bool | None = None,
            repeats: int = 5) -> dict:
    """fit() vs the bare loop vs the textbook loop for one model, with the precision fit chooses
    (amp=None) or with mixed precision forced on/off (the layout stays the device default, as on
    a CPU without bf16). fit and the bare loop run alternately `repeats` times and the best of
    each counts, so a busy moment on a shared machine does not decide the ratio."""
    from carcourse.config import cpu_has_bf16, isa_limited, pick_device
    from carcourse.data import Splits, make_synthetic, save_folder
    from carcourse.models import build
    from carcourse.train import TrainConfig, fit

    device = pick_device()
    n = (640 if quick else 2048) if model_name == "cnn" else (256 if quick else 768)
    data = make_synthetic(n_train=n, n_val=0, n_test_notcar=1, n_test_car=1, quick=quick).train

    def config(**kw):
        return TrainConfig(epochs=1, batch_size=batch, progress=False, amp=amp, **kw)

    amp_used, channels_last = config().resolved(device)

    def fresh():
        return build(model_name, seed=0)

    fit(fresh(), data.subset(min(128, n)), config=config())  # warm-up (allocator, kernels)
    fit_aug, fit_plain, bare, bare_aug = [], [], [], []

    def fresh_bare():
        m = fresh().to(device)
        return m.to(memory_format=torch.channels_last) if channels_last else m

    for _ in range(repeats):
        fit_aug.append(fit(fresh(), data, config=config()).images_per_second)
        bare_aug.append(bare_loop(fresh_bare(), data.images, data.labels, batch, amp_used, channels_last, device,
                                  augment=config()))
        fit_plain.append(fit(fresh(), data, config=config(augment=False)).images_per_second)
        bare.append(bare_loop(fresh_bare(), data.images, data.labels, batch, amp_used, channels_last, device))
    fit_aug, fit_plain, bare, bare_aug = max(fit_aug), max(fit_plain), max(bare), max(bare_aug)
    with tempfile.TemporaryDirectory() as tmp:
        save_folder(Splits(data, None, data.subset(2)), tmp)
        workers = 2
        textbook = _textbook_loop(fresh(), f"{tmp}/train", batch, workers)
    precision = f"{'bf16' if amp_used else 'fp32'}, {'channels_last' if channels_last else 'NCHW'}"
    rows = [("fit(), default recipe (flips + jitter)", fit_aug),
            (f"bare loop, same augmentation ({precision})", bare_aug),
            ("fit() without augmentation", fit_plain), (f"bare loop, no augmentation ({precision})", bare),
            (f"textbook ImageFolder+DataLoader({workers} workers), NCHW fp32", textbook)]
    forced = "" if amp is None else f" (mixed precision forced {'on' if amp else 'off'})"
    print(f"model {model_name}, batch {batch}, {len(data)} images, device {device}, "
          f"{torch.get_num_threads()} threads, CPU bf16: {cpu_has_bf16()}, {precision}{forced}")
    print(f"{'loop':62s} {'images/s':>10s}")
    for name, v in rows:
        print(f"{name:62s} {v:10.0f}")
    result = {"bench": "throughput", "model": model_name, "device": str(device), "cpu_bf16": cpu_has_bf16(),
              "amp": amp_used, "channels_last": channels_last, "amp_forced": amp, "isa_limited": isa_limited(),
              # fit's overhead: fit ÷ a bare loop doing the same work (the default augmentation; and none)
              "efficiency_vs_bare": round(fit_aug / bare_aug, 3),
              "efficiency_vs_bare_no_augment": round(fit_plain / bare, 3),
              # what the default augmentation (flips + jitter) costs fit: the share of images/s it takes
              "augmentation_cost": round(1 - fit_aug / fit_plain, 3),
              "speedup_vs_textbook": round(fit_aug / textbook, 2),
              "images_per_second": {"fit": round(fit_aug), "bare_augmented": round(bare_aug),
                                    "fit_no_augment": round(fit_plain), "bare": round(bare),
                                    "textbook": round(textbook)}}
    print(json.dumps(result), flush=True)
    return result


def main(quick: bool = False, models: tuple[str, ...] = ("cnn", "resnet18"), batch: int = 32) -> dict:
    """Every model with the precision fit chooses; on a CPU with native bf16 also with mixed
    precision forced off, the path every fp32-only CPU takes."""
    from carcourse.config import cpu_has_bf16

    rows = []
    for model_name in models:
        rows.append(measure(quick, model_name, batch))
        if cpu_has_bf16():
            rows.append(measure(quick, model_name, batch, amp=False))
    return {"rows": rows}


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--model", default=None, help="cnn or resnet18 (default: both)")
    p.add_argument("--sweep", action="store_true", help="precision/layout sweep instead")
    a = p.parse_args()
    if a.sweep:
        print(json.dumps({"sweep": sweep_main(quick=a.quick)}))
    else:
        main(quick=a.quick, models=(a.model,) if a.model else ("cnn", "resnet18"))
