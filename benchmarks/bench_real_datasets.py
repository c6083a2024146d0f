"""Error rates of crowdmix's aggregators on the five public crowdsourcing benchmarks.

Protocol (``../shared/data/crowd/README.md``): fit on all answers of a dataset, never use the
truth to fit or to choose a setting, score on the tasks that have a truth label. Majority vote
is reported with the deterministic tie-break (first class in sorted label order) and as the
expected error under a uniform random tie-break. crowd-kit's ``DawidSkene``,
``OneCoinDawidSkene`` and ``MajorityVote`` are run side by side in the same process when
crowd-kit is installed.

Prints a table and writes ``benchmarks/results/real_datasets.md``.

Usage::

    python benchmarks/bench_real_datasets.py [--datasets bird rte ...] [--no-crowdkit]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import pandas as pd

from crowdmix import DawidSkene, MajorityVote
from crowdmix.datasets import load_crowd_benchmark
from crowdmix.exceptions import ConvergenceWarning
from crowdmix.metrics import error_rate, majority_vote_expected_error

DATASETS = ["bird", "rte", "dog", "web", "trec"]

# Reference error rates (%) from ../shared/data/crowd/README.md, for orientation.
REFERENCE = {
    "majority vote (random tie-break), README": [24.07, 10.31, 17.78, 26.93, 34.86],
    "Dawid-Skene EM, crowd-kit 1.4.2, README": [11.11, 7.25, 15.74, 17.08, 29.85],
    "Opt-D&S (spectral + EM), Zhang et al. 2014": [10.09, 7.12, 16.89, 15.86, 29.80],
    "MV-initialised D&S, Zhang et al. 2014": [11.11, 7.12, 16.66, 15.74, 30.02],
}

RESULTS = Path(__file__).resolve().parent / "results"


def crowdmix_methods() -> dict[str, object]:
    """The crowdmix aggregators measured, with their default settings."""
    return {
        "crowdmix MajorityVote (tie-break: first)": MajorityVote(),
        "crowdmix DawidSkene(confusion='full')": DawidSkene(confusion="full"),
        "crowdmix DawidSkene(confusion='diagonal')": DawidSkene(confusion="diagonal"),
        "crowdmix DawidSkene(confusion='one_coin')": DawidSkene(confusion="one_coin"),
    }


def crowdkit_methods() -> dict[str, object]:
    """crowd-kit's aggregators with their default settings (empty when not installed)."""
    try:
        from crowdkit.aggregation import DawidSkene as CkDS
        from crowdkit.aggregation import MajorityVote as CkMV
        from crowdkit.aggregation import OneCoinDawidSkene as CkOneCoin
    except ImportError:
        return {}
    return {
        "crowd-kit MajorityVote": CkMV(),
        "crowd-kit DawidSkene": CkDS(),
        "crowd-kit OneCoinDawidSkene": CkOneCoin(),
    }


def measure(names: list[str], with_crowdkit: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Error rates (%) and fit times (s), methods x datasets."""
    errors: dict[str, dict[str, float]] = {}
    times: dict[str, dict[str, float]] = {}
    for name in names:
        bench = load_crowd_benchmark(name)
        truth = bench.truth
        errors.setdefault("MajorityVote expected error (random tie-break)", {})[name] = (
            100 * majority_vote_expected_error(bench.answers, truth)
        )
        methods = crowdmix_methods()
        if with_crowdkit:
            methods.update(crowdkit_methods())
        for label, method in methods.items():
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                pred = method.fit_predict(bench.answers)
            times.setdefault(label, {})[name] = time.perf_counter() - start
            errors.setdefault(label, {})[name] = 100 * error_rate(pred, truth)
            print(f"{name:5s} {label:45s} {errors[label][name]:6.2f} %  "
                  f"({times[label][name]:.2f} s)", flush=True)
    err = pd.DataFrame(errors).T[names]
    for label, values in REFERENCE.items():
        err.loc[label] = [values[DATASETS.index(n)] for n in names]
    return err, pd.DataFrame(times).T[names]


def to_markdown(frame: pd.DataFrame, digits: int = 2) -> str:
    cols = list(frame.columns)
    lines = ["| method | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for label, row in frame.iterrows():
        lines.append(f"| {label} | " + " | ".join(f"{v:.{digits}f}" for v in row) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=DATASETS, choices=DATASETS)
    parser.add_argument("--no-crowdkit", action="store_true", help="skip crowd-kit")
    parser.add_argument("--out", default=str(RESULTS / "real_datasets.md"))
    args = parser.parse_args()
    # warm up numba (compile or load the cache) so times are of the fits
    from crowdmix.datasets import make_crowd

    DawidSkene().fit(make_crowd(n_tasks=50, n_workers=10, n_classes=2, random_state=0).answers)
    err, times = measure(args.datasets, not args.no_crowdkit)
    text = (
        "# Error rates (%) on the five public crowdsourcing benchmarks\n\n"
        "Generated by `python benchmarks/bench_real_datasets.py`. Fit on all answers, scored on "
        "the tasks with a truth label; default settings of every method; the last rows are the "
        "reference numbers of `../shared/data/crowd/README.md`.\n\n"
        + to_markdown(err)
        + "\n\n## Fit time (s), same run (machine shared, for orientation only)\n\n"
        + to_markdown(times, 3)
        + "\n"
    )
    print()
    print(to_markdown(err))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
