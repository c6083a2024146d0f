"""``crowdmix benchmark``: error rate, time and iterations of aggregation methods on datasets
with known truth (the truth is used for scoring only)."""

from __future__ import annotations

import argparse
import sys

from ..exceptions import InputError
from ..io import check_output_path, write_table_atomic

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "benchmark",
        help="score aggregation methods on datasets with known truth",
        description=(
            "Fit aggregation methods on crowd answers and score their labels against the truth "
            "(used for scoring only). DATA is a folder holding labels.csv (task,worker,label) and "
            "truth.csv (task,label), a folder of such folders, or, with --truth, an answers file. "
            "Prints a table of error rate, time and iterations, or writes it with --output."
        ),
    )
    p.add_argument("data", nargs="+", help="dataset folder(s), or one answers file with --truth")
    p.add_argument("--truth", default=None, help="truth file (task,label) for an answers file")
    p.add_argument("--methods", default="all",
                   help="comma-separated method names as in `crowdmix aggregate --method`, or "
                        "'all' (default); methods that refuse a dataset (e.g. binary-only ones on "
                        "multi-class data) are listed with the reason")
    p.add_argument("-o", "--output", default=None,
                   help="write the table here (.csv, .tsv or .parquet) instead of printing it")
    p.add_argument("--repeat", type=int, default=1, help="fits per method; the fastest time is kept")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed (random tie-breaks and starts); default: deterministic")
    p.add_argument("--progress", action="store_true", help="report each fit on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..benchmarking import available_methods, format_table, run_benchmark

    if args.truth is not None:
        if len(args.data) != 1:
            raise InputError("--truth goes with exactly one answers file; got "
                             f"{len(args.data)} DATA arguments")
        datasets: object = (args.data[0], args.truth)
        inputs = [args.data[0], args.truth]
    else:
        datasets = list(args.data)
        inputs = list(args.data)
    if args.methods.strip() != "all":
        names = [m.strip() for m in args.methods.split(",") if m.strip()]
        unknown = [m for m in names if m not in available_methods()]
        if unknown:
            raise InputError(f"unknown method(s) {unknown}; choose from {sorted(available_methods())} or 'all'")
        methods: object = names
    else:
        methods = "all"
    if args.output is not None:
        check_output_path(args.output, inputs)
    from ..benchmarking import load_benchmark_datasets

    data = load_benchmark_datasets(datasets)
    if args.output is not None:
        check_output_path(args.output, [p for d in data for p in d.paths])
    table = run_benchmark(methods, data, repeat=args.repeat, random_state=args.seed,
                          progress=args.progress)
    if args.output is None:
        print(format_table(table))
    else:
        write_table_atomic(table, args.output)
        if args.progress:
            print(f"crowdmix benchmark: wrote {len(table)} rows to {args.output}", file=sys.stderr)
    return 0
