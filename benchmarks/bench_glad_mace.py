"""GLAD and MACE on the five public crowdsourcing benchmarks, crowdmix next to crowd-kit.

Protocol (``../shared/data/crowd/README.md``): fit on all answers, never use the truth to fit or
to choose a setting, score on the tasks that have a truth label (:func:`crowdmix.metrics.error_rate`).
Both libraries run with their default settings.

Timing: crowd-kit's GLAD takes minutes on trec, so its measurements (error and seconds per fit)
are saved in ``benchmarks/results/crowdkit_glad_mace.json`` by ``--crowdkit run`` and re-used by
later runs (``--crowdkit cache``, the default when the file exists). crowdmix is timed as the
median of ``--repeats`` warm fits (numba compiled and cached on disk) and, separately, the first
fit of the process (which includes loading the compiled kernels). The speed-up is the ratio
crowd-kit seconds / crowdmix seconds; the machine is shared, so only ratios are meaningful, and
the ratio is most reliable when both were measured in one run (``--crowdkit run``).

Writes ``benchmarks/results/glad_mace.md``.

Usage::

    python benchmarks/bench_glad_mace.py [--datasets ...] [--crowdkit run|cache|skip|only]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

DATASETS = ["bird", "rte", "dog", "web", "trec"]
RESULTS = Path(__file__).resolve().parent / "results"
CACHE = RESULTS / "crowdkit_glad_mace.json"

# crowd-kit 1.4.2 error rates (%) from ../shared/data/crowd/README.md, for orientation
README_CROWDKIT = {
    "GLAD": dict(zip(DATASETS, [27.78, 7.50, 16.60, 17.83, 42.07], strict=True)),
    "MACE": dict(zip(DATASETS, [26.85, 7.38, 16.98, 17.34, 40.26], strict=True)),
}


def _load(name: str):
    from crowdmix.datasets import load_crowd_benchmark

    return load_crowd_benchmark(name)


def run_crowdkit(datasets: list[str], methods: tuple[str, ...] = ("GLAD", "MACE")) -> dict:
    """Fit crowd-kit's GLAD and/or MACE (defaults) once per dataset: error (%) and seconds."""
    import crowdkit
    from crowdkit.aggregation import GLAD, MACE

    from crowdmix.metrics import error_rate

    out: dict = {
        "crowdkit_version": crowdkit.__version__ if hasattr(crowdkit, "__version__") else "?",
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load_average_before": os.getloadavg()[0],
        "results": {},
    }
    for name in datasets:
        bench = _load(name)
        for method, make in (("GLAD", GLAD), ("MACE", MACE)):
            if method not in methods:
                continue
            start = time.perf_counter()
            labels = make().fit_predict(bench.answers)
            seconds = time.perf_counter() - start
            err = 100 * error_rate(labels, bench.truth)
            out["results"].setdefault(method, {})[name] = {"error": err, "seconds": seconds}
            print(f"crowd-kit {method:5s} {name:5s} error {err:6.2f}%  {seconds:8.2f} s", flush=True)
    out["load_average_after"] = os.getloadavg()[0]
    return out


def crowdkit_mace_sorted(datasets: list[str]) -> None:
    """crowd-kit's MACE on answers sorted by (worker, label).

    crowd-kit 1.4.2 indexes its MACE parameters by order of first appearance of workers and
    labels (``pd.factorize``) but builds the strategy counts with a ``groupby`` that sorts by
    worker and label names, then uses them positionally; the strategies end up on the wrong
    workers unless both orders agree. Sorting the input makes them agree (when the first
    worker used every label), which isolates the effect.
    """
    from crowdkit.aggregation import MACE as CkMACE

    from crowdmix.metrics import error_rate

    for name in datasets:
        bench = _load(name)
        df = bench.answers.sort_values(["worker", "label"], kind="stable").reset_index(drop=True)
        workers = pd.factorize(df["worker"])[1]
        labels = pd.factorize(df["label"])[1]
        aligned = list(workers) == sorted(workers) and list(labels) == sorted(labels)
        err = 100 * error_rate(CkMACE().fit_predict(df), bench.truth)
        print(f"crowd-kit MACE {name:5s} on sorted answers (orders agree: {aligned}): error {err:6.2f}%",
              flush=True)


def _time_ours(make, answers, repeats: int) -> tuple[object, float, float, float]:
    """(fitted estimator, first-fit seconds, median warm seconds, median warm CPU seconds)."""
    start = time.perf_counter()
    est = make().fit(answers)
    first = time.perf_counter() - start
    warm, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        est = make().fit(answers)
        warm.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    if not warm:
        return est, first, first, float("nan")
    return est, first, statistics.median(warm), statistics.median(cpu)


def run_ours(datasets: list[str], repeats: int) -> dict:
    from crowdmix import as_answers
    from crowdmix.glad import GLAD
    from crowdmix.mace import MACE
    from crowdmix.metrics import error_rate

    res: dict = {}
    for name in datasets:
        bench = _load(name)
        answers = as_answers(bench.answers)
        # MACE with crowd-kit's default seed (crowdmix's default is random_state=None)
        for method, make in (("GLAD", GLAD), ("MACE", lambda: MACE(random_state=0))):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est, first, warm, cpu = _time_ours(make, answers, repeats)
            err = 100 * error_rate(est.labels_, bench.truth)
            res.setdefault(method, {})[name] = {
                "error": err, "first": first, "seconds": warm, "cpu": cpu, "n_iter": est.n_iter_,
            }
            print(f"crowdmix  {method:5s} {name:5s} error {err:6.2f}%  warm {warm:7.3f} s  "
                  f"(CPU {cpu:6.3f} s)  first {first:7.3f} s  iterations {est.n_iter_}", flush=True)
        # how much one random start matters: MACE with a single start, 10 seeds
        singles = [100 * error_rate(MACE(n_restarts=1, random_state=s).fit(answers).labels_, bench.truth)
                   for s in range(10)]
        res["MACE"][name]["single_start"] = (min(singles), statistics.median(singles), max(singles))
        print(f"crowdmix  MACE  {name:5s} one start, seeds 0-9: error min {min(singles):.2f} "
              f"median {statistics.median(singles):.2f} max {max(singles):.2f}", flush=True)
    return res


def table(ours: dict, ck: dict | None, datasets: list[str]) -> str:
    lines = []
    for method in ("GLAD", "MACE"):
        lines.append(f"### {method}\n")
        head = "| dataset | crowdmix error % | crowd-kit error % (this run) | crowd-kit error % (README) "
        head += "| crowdmix s (warm) | crowdmix CPU s | crowdmix s (first fit) | crowd-kit s "
        head += "| speed-up (warm) |"
        if method == "MACE":
            head += " crowdmix, one start: min / median / max error % |"
        lines += [head, "|" + "---|" * (head.count("|") - 1)]
        for name in datasets:
            o = ours[method][name]
            c = (ck or {}).get(method, {}).get(name)
            ce = f"{c['error']:.2f}" if c else "n/a"
            cs = f"{c['seconds']:.2f}" if c else "n/a"
            ratio = f"{c['seconds'] / o['seconds']:.0f}x" if c else "n/a"
            line = (
                f"| {name} | {o['error']:.2f} | {ce} | {README_CROWDKIT[method][name]:.2f} | "
                f"{o['seconds']:.3f} | {o['cpu']:.3f} | {o['first']:.3f} | {cs} | {ratio} |"
            )
            if method == "MACE":
                line += " {:.2f} / {:.2f} / {:.2f} |".format(*o["single_start"])
            lines.append(line)
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=DATASETS, choices=DATASETS)
    p.add_argument("--crowdkit", choices=["run", "cache", "skip", "only"],
                   default="cache" if CACHE.exists() else "run",
                   help="run crowd-kit now (and save), reuse the saved run, skip it, or only run it")
    p.add_argument("--crowdkit-methods", nargs="+", default=["GLAD", "MACE"], choices=["GLAD", "MACE"],
                   help="with --crowdkit run/only: which crowd-kit methods to (re-)run")
    p.add_argument("--repeats", type=int, default=5, help="warm crowdmix fits to time (median)")
    p.add_argument("--crowdkit-mace-sorted", action="store_true",
                   help="only run crowd-kit's MACE on answers sorted by worker and label")
    args = p.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    if args.crowdkit_mace_sorted:
        crowdkit_mace_sorted(args.datasets)
        return 0

    ck = None
    if args.crowdkit in ("run", "only"):
        fresh = run_crowdkit(args.datasets, tuple(args.crowdkit_methods))
        if CACHE.exists() and set(args.crowdkit_methods) != {"GLAD", "MACE"}:
            ck = json.loads(CACHE.read_text())  # keep the other method's saved measurements
            ck["results"].update(fresh["results"])
            ck["measured_at"] = f"{ck['measured_at']}, {'+'.join(args.crowdkit_methods)} re-run {fresh['measured_at']}"
        else:
            ck = fresh
        CACHE.write_text(json.dumps(ck, indent=1))
        if args.crowdkit == "only":
            return 0
    elif args.crowdkit == "cache":
        ck = json.loads(CACHE.read_text())
        print(f"crowd-kit measurements reused from {CACHE.name} ({ck['measured_at']})")
    ours = run_ours(args.datasets, args.repeats)
    text = table(ours, None if ck is None else ck["results"], args.datasets)
    header = (
        f"GLAD and MACE, default settings. crowdmix timed {time.strftime('%Y-%m-%d %H:%M')}; "
        f"crowd-kit: {'not run' if ck is None else ck['measured_at'] + ' (' + args.crowdkit + ')'}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.\n"
    )
    print(header)
    print(text)
    (RESULTS / "glad_mace.md").write_text(header + "\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
