"""Merge ablation.json files of ablations run side by side (bench/on_gpu.sh runs one process
per ablation) into one ablation.json + ablation.png, with the same checks as `ablate --merge`:
the same recipe, data (SHA-1 of every split) and run settings, else a ValueError naming the
difference. `parts` in the result lists each process's command, seconds and machine.

Run: python -m bench.merge_ablations DIR [DIR ...] --out answers/results
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from carcourse.ablate import ABLATIONS, AblationResult, write_outputs


def merge_files(paths: list[Path]) -> AblationResult:
    """Fold the results in ablation order (width, stem, budget, optimizer, pretrained)."""
    results = []
    for path in paths:
        try:
            results.append(AblationResult.from_json(json.loads(path.read_text())))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not an ablation.json this version can read ({exc})") from exc
    seen: dict[str, Path] = {}
    for path, r in zip(paths, results):
        for a in r.config.only:
            if a in seen:
                raise ValueError(f"ablation {a!r} is in both {seen[a]} and {path}")
            seen[a] = path
    results.sort(key=lambda r: min(ABLATIONS.index(a) for a in r.config.only))
    merged = results[0]
    for r in results[1:]:
        merged = r.merge(merged)
    return merged


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.merge_ablations", description=__doc__.split("\n")[0])
    p.add_argument("dirs", nargs="+", help="folders (or ablation.json files) to merge")
    p.add_argument("--out", required=True, help="folder for the merged ablation.json and ablation.png")
    args = p.parse_args(argv)
    paths = [Path(d) / "ablation.json" if Path(d).is_dir() else Path(d) for d in args.dirs]
    merged = merge_files(paths)
    print(merged.table())
    wall = max(part["seconds"] for part in merged.parts)
    print(f"{merged.runs_trained} training runs; {merged.seconds:.0f} s of training processes, "
          f"the longest part {wall:.0f} s")
    write_outputs(merged, args.out)
    print(f"wrote {args.out}/ablation.json and {args.out}/ablation.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
