"""The `checks` and `grade` subcommands of `python -m carcourse` (registered by cli.py).

Both are instructor tools: `checks` needs the instructor notebooks (the solutions), `grade`
executes submissions. The student edition leaves their modules out, and these commands then say
so instead of failing with a traceback.
"""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def instructor_module(name: str) -> ModuleType:
    """Import carcourse.<name>, or say clearly that this copy (the student edition) has no such tool."""
    try:
        return importlib.import_module(f"carcourse.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"carcourse.{name}":
            raise
        raise ValueError(f"carcourse.{name} is an instructor tool and is not part of the student edition") from None


def _cmd_checks(args: argparse.Namespace) -> int:
    mistakes = instructor_module("mistakes")
    code = mistakes.load_solutions(args.root or ROOT)
    verdicts = mistakes.verify_exercises(code)
    print(mistakes.format_exercises(verdicts))
    ok = all(v.ok for v in verdicts)
    if args.mutants:
        results = mistakes.run_catalogue(code)
        print()
        print(mistakes.format_mutants(results))
        ok = ok and all(r.caught for r in results)
    return 0 if ok else 1


def _cmd_grade(args: argparse.Namespace) -> int:
    grading = instructor_module("grading")
    rows = grading.grade_folder(args.submissions, timeout=args.timeout, exercises_only=args.exercises_only)
    out = grading.write_csv(rows, args.out)
    files = len({r.student_file for r in rows})
    print(f"graded {files} notebook(s): {sum(r.passed for r in rows)} of {len(rows)} exercise checks passed; "
          f"wrote {out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("checks", help="run every exercise check on its solution and its stub "
                       "(--mutants: and on the catalogue of classic mistakes)")
    p.add_argument("--mutants", action="store_true", help="also apply each classic mistake and require its own diagnosis")
    p.add_argument("--root", default=None, help="course checkout with the instructor notebooks (default: this one)")
    p.set_defaults(func=_cmd_checks)
    p = sub.add_parser("grade", help="grade a folder of submitted notebooks into a CSV")
    p.add_argument("submissions", help="folder of .ipynb files (searched recursively)")
    p.add_argument("--out", default="grades.csv", help="CSV to write (default grades.csv)")
    p.add_argument("--timeout", type=int, default=300, help="seconds one cell may run (default 300)")
    p.add_argument("--exercises-only", action="store_true",
                   help="execute only the setup and answer cells (fast; the exercises are self-contained)")
    p.set_defaults(func=_cmd_grade)
