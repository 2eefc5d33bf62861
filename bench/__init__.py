"""carcourse benchmarks: each prints a table and a final JSON line of ratios measured side by side."""
