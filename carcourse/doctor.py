"""`python -m carcourse doctor`: can this machine run the course, and if not, what to do.

Each check gives a status (ok, warn, fail), what it found and, when something is wrong, the fix.
A fail means the course cannot run (exit status 1); a warn means part of it will not (the
browser tests, live widgets) or will be slow."""
from __future__ import annotations

import importlib
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

REQUIRED = ("torch", "torchvision", "numpy", "PIL", "matplotlib", "seaborn", "sklearn", "pandas",
            "tqdm", "ipywidgets", "jupyterlab", "ipykernel")
DIST_NAMES = {"PIL": "pillow", "sklearn": "scikit-learn"}
MIN_PYTHON = (3, 10)
MIN_FREE_BYTES = 1 << 30


@dataclass
class Check:
    name: str
    status: str  # "ok" | "warn" | "fail"
    found: str
    fix: str = ""


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DIST_NAMES.get(module, module))
    except PackageNotFoundError:
        return getattr(sys.modules.get(module), "__version__", "?")


def check_python() -> Check:
    v = sys.version_info
    ok = v[:2] >= MIN_PYTHON
    return Check("python", "ok" if ok else "fail", f"{v.major}.{v.minor}.{v.micro} at {sys.executable}",
                 "" if ok else f"install Python >= {MIN_PYTHON[0]}.{MIN_PYTHON[1]} and run `make setup`")


def check_packages(names: tuple[str, ...] = REQUIRED) -> list[Check]:
    out = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any failure to import is the finding
            out.append(Check(name, "fail", f"cannot import: {type(exc).__name__}: {exc}",
                             f"pip install {DIST_NAMES.get(name, name)}  (or `make setup`, which installs "
                             "everything in pyproject.toml into .venv)"))
        else:
            out.append(Check(name, "ok", _version(name)))
    return out


def check_device() -> list[Check]:
    import torch

    from .config import isa_limited, pick_device, resolve_precision

    env = os.environ.get("CARCOURSE_DEVICE")
    try:
        dev = pick_device()
    except ValueError as exc:
        return [Check("device", "fail", str(exc), "unset CARCOURSE_DEVICE or name an available device")]
    if dev.type == "cuda":
        why = f"CUDA {torch.version.cuda}: {torch.cuda.get_device_name(dev)}"
    elif dev.type == "mps":
        why = "Apple GPU (MPS)"
    else:
        why = "no CUDA or MPS GPU visible to torch"
        if torch.version.cuda is None and not torch.backends.mps.is_built():
            why += " (this torch build has no GPU support)"
    bf16, channels_last = resolve_precision(dev)  # the device defaults fit() uses, by the same rule
    why += f"; chosen by CARCOURSE_DEVICE={env}" if env else ""
    layout = " + channels_last" if channels_last else ""
    capped = isa_limited()
    checks = [Check("device", "ok", f"{dev}: {why}"),
              Check("bf16", "ok" if bf16 else "warn",
                    f"native bf16: training uses bf16 autocast{layout}" if bf16 else
                    f"no native bf16{f' ({capped} caps the instruction set)' if capped else ''}: "
                    f"training runs in fp32{layout} (correct, slower)",
                    "" if bf16 else "nothing to fix; full-size runs are faster on a GPU")]
    if dev.type == "cpu":
        checks.append(Check("cpu threads", "ok", f"{torch.get_num_threads()} torch threads, {os.cpu_count()} cores"))
    return checks


def check_quick() -> Check:
    from .presets import preset

    raw = os.environ.get("CARCOURSE_QUICK")
    try:
        size = preset()
    except ValueError as exc:
        return Check("quick mode", "fail", str(exc), "set CARCOURSE_QUICK=1 (small, CI) or 0 (the exercise's sizes)")
    return Check("quick mode", "ok", f"{'on' if size.quick else 'off'} (CARCOURSE_QUICK={raw!r}): "
                 + ("small data, few epochs (CI)" if size.quick else "the exercise's sizes")
                 + f"; {size.n_train} training images, {size.compare_epochs} epochs per model in compare")


def _labextension_dirs() -> list[Path]:
    try:
        from jupyter_core.paths import jupyter_path

        return [Path(p) for p in jupyter_path("labextensions")]
    except Exception:  # noqa: BLE001
        return [Path(sys.prefix) / "share" / "jupyter" / "labextensions"]


def check_widgets_frontend() -> Check:
    for d in _labextension_dirs():
        if (d / "@jupyter-widgets" / "jupyterlab-manager" / "package.json").exists():
            return Check("widgets front end", "ok", f"@jupyter-widgets/jupyterlab-manager in {d}")
    return Check("widgets front end", "warn", "JupyterLab has no ipywidgets extension: sliders and the "
                 "overfitting explorer show as plain text", "pip install jupyterlab_widgets (or `make setup`)")


def check_kernel() -> Check:
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        specs = KernelSpecManager().find_kernel_specs()
    except Exception as exc:  # noqa: BLE001
        return Check("jupyter kernel", "warn", f"cannot list kernels: {exc}", "make kernel")
    if "carcourse" in specs:
        return Check("jupyter kernel", "ok", f"'carcourse' at {specs['carcourse']}")
    return Check("jupyter kernel", "warn", "no kernel named 'carcourse': the notebooks will ask for one",
                 "make kernel (registers this environment's Python as 'carcourse')")


def check_disk(path: str | Path = ".") -> Check:
    free = shutil.disk_usage(path).free
    ok = free >= MIN_FREE_BYTES
    return Check("disk", "ok" if ok else "warn", f"{free / 2**30:.1f} GiB free at {Path(path).resolve()}",
                 "" if ok else "free at least 1 GiB (the data set as PNGs, runs/, checkpoints)")


def check_chromium() -> Check:
    path = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "",
                             shutil.which("chromium-browser") or "") if p and os.path.exists(p)), None)
    try:
        importlib.import_module("playwright")
        has_playwright = True
    except ImportError:
        has_playwright = False
    pw = "playwright installed" if has_playwright else "playwright missing"
    if path and has_playwright:
        return Check("browser tests", "ok", f"Chromium at {path}; {pw}")
    return Check("browser tests", "warn", f"Chromium {'at ' + path if path else 'not found'}; {pw}",
                 "`make test` installs Chromium (apt-get install chromium) and playwright; only the "
                 "browser tests need them")


def run_checks() -> list[Check]:
    checks = [check_python(), *check_packages()]
    if all(c.status == "ok" for c in checks if c.name == "torch"):
        checks += check_device()
    checks += [check_quick(), check_widgets_frontend(), check_kernel(), check_disk(), check_chromium()]
    return checks


def report(checks: list[Check]) -> str:
    mark = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    lines = []
    for c in checks:
        lines.append(f"[{mark[c.status]}] {c.name:18s} {c.found}")
        if c.fix:
            lines.append(f"       {'':18s} fix: {c.fix}")
    fails = sum(c.status == "fail" for c in checks)
    warns = sum(c.status == "warn" for c in checks)
    lines.append("")
    lines.append("the course cannot run: fix the FAIL lines above" if fails else
                 f"ready{f' ({warns} warning(s))' if warns else ''}")
    return "\n".join(lines)


def main(as_json: bool = False) -> int:
    checks = run_checks()
    if as_json:
        import json

        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        print(report(checks))
    return 1 if any(c.status == "fail" for c in checks) else 0
