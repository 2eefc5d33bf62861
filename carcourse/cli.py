"""Command line: `python -m carcourse {data,compare,ablate,student,doctor,checks,grade} ...`."""
from __future__ import annotations

import argparse
import sys
import time


def _cmd_data(args: argparse.Namespace) -> int:
    from .data import make_synthetic, save_folder
    from .presets import preset

    t0 = time.perf_counter()
    quick = preset(True if args.quick else None).quick  # --quick, else CARCOURSE_QUICK
    splits = make_synthetic(seed=args.seed, quick=quick)
    root = save_folder(splits, args.out)
    print(f"wrote {splits.source} to {root} in {time.perf_counter() - t0:.1f} s")
    for name, counts in splits.summary().items():
        print(f"  {name:5s} " + "  ".join(f"{k}={v}" for k, v in counts.items())
              + f"  total={sum(counts.values())}")
    return 0


def _whole(text: str, option: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{option} must be a whole number or 'auto', got {text!r}") from None


def _cmd_compare(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from .compare_run import run_compare

    from . import distributed

    quick = True if args.quick else None
    ctx = distributed.init_from_env(args.device)  # under torchrun: join the process group
    device = str(ctx.device) if ctx else args.device
    prefix = f"torchrun --nproc_per_node={ctx.world_size} -m carcourse " if ctx else "python -m carcourse "
    try:
        result = run_compare(data=args.data, epochs=args.epochs, seeds=args.seeds, quick=quick,
                             out=args.out, device=device, progress=not args.no_progress,
                             seed=args.seed, command=prefix + " ".join(args.argv),
                             workers=None if args.workers == "auto" else _whole(args.workers, "--workers"))
    finally:
        distributed.shutdown()
    if result is None:  # not rank 0: rank 0 reports
        return 0
    print()
    print(result.table.to_string())
    print()
    print(result.verdict)
    if args.out:
        print(f"wrote {args.out}/report.json and figures")
    return 0


def _cmd_student(args: argparse.Namespace) -> int:
    from .course_commands import instructor_module  # not in the student edition: say so, no traceback

    m = instructor_module("student").make_student_edition(args.out, root=args.root, force=args.force)
    print(f"student edition in {m.out}: {len(m.notebooks)} notebooks, {m.stubs} solution cells "
          f"replaced by stubs, {m.outputs_cleared} outputs cleared")
    print(f"  copied: {', '.join(m.copied)}")
    print(f"  left out: {', '.join(m.left_out) or 'nothing'}")
    print(f"  manifest: {m.out}/STUDENT_EDITION.json")
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import main as doctor_main

    return doctor_main(as_json=args.json)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m carcourse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("data", help="write the synthetic data set as a folder tree of PNGs")
    p.add_argument("--out", required=True, help="folder to write root/{train,val,test}/{notcar,car}/")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="the small CI-sized split")
    p.set_defaults(func=_cmd_data)
    p = sub.add_parser("compare", help="train the SmallCNN and ResNet18 on the same split and compare them")
    p.add_argument("--data", default="synthetic", help="'synthetic' (default) or a folder tree "
                   "root/{train,val,test}/{class}/*")
    from .presets import FULL, QUICK

    p.add_argument("--epochs", type=int, default=None,
                   help=f"epochs per model (default {FULL.compare_epochs}, quick {QUICK.compare_epochs})")
    p.add_argument("--seeds", type=int, default=1, help="training runs per model (mean ± sd)")
    p.add_argument("--seed", type=int, default=0, help="data seed and first training seed")
    p.add_argument("--quick", action="store_true", help="small data and few epochs (CI)")
    p.add_argument("--out", default=None, help="folder for report.json and figures")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
    p.add_argument("--workers", default="1", help="training runs side by side, one process each: "
                   "'auto' (2 on a multi-core CPU, 1 on a GPU) or a number; default 1, one run at a "
                   "time, which reproduces answers/results digit for digit")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_compare)
    p = sub.add_parser("student", help="write the student edition: solutions stubbed, outputs cleared, "
                       "answers/ left out")
    p.add_argument("--out", required=True, help="folder for the student edition (must be empty or new)")
    p.add_argument("--root", default=None, help="course checkout to read (default: this one)")
    p.add_argument("--force", action="store_true", help="replace --out if it is not empty")
    p.set_defaults(func=_cmd_student)
    p = sub.add_parser("doctor", help="check this machine for the course and say how to fix problems")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_doctor)
    from .ablate import add_subcommand as add_ablate  # `ablate`: its options live in ablate.py

    add_ablate(sub)

    from .course_commands import register  # checks, grade: exercise checks and grading

    register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .data import DataError
    from .models import WeightsError
    from .checkpoints import CheckpointError
    from .history import TrainingDiverged

    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except (DataError, WeightsError, CheckpointError, TrainingDiverged, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
