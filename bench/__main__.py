"""python -m bench [--quick] [--only data,throughput,sweep,recipe,sidebyside,notebooks]: run the benchmark suite.

Each benchmark prints a table and a JSON line; a last JSON line gathers them all."""
import argparse
import json
import sys

from . import data as data_bench
from . import notebooks, recipe, side_by_side, throughput

BENCHES = {"data": data_bench.main, "throughput": throughput.main, "sweep": throughput.sweep_main,
           "recipe": recipe.main, "sidebyside": side_by_side.main,
           "notebooks": notebooks.main}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="CI-sized runs")
    p.add_argument("--only", default=",".join(BENCHES), help="comma-separated: " + ", ".join(BENCHES))
    args = p.parse_args(argv)
    results = {}
    for name in args.only.split(","):
        print(f"\n=== {name} ===", flush=True)
        results[name] = BENCHES[name](quick=args.quick)
    print(json.dumps({"bench": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
