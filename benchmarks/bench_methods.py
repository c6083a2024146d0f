"""Every aggregation method of crowdmix beside crowd-kit's implementation of the same method.

Runs on the five public crowd datasets (bird, rte, dog, web, trec from ``../shared/data/crowd``)
and prints, per dataset and method, crowdmix's error rate, crowd-kit's error rate, the
difference in points and the time ratio (crowd-kit time / crowdmix time, both measured in the
same run on the same machine; crowdmix's time is the best of ``--repeat`` warm runs, numba
compilation excluded; crowd-kit's is one run).

crowd-kit is slow on some methods (GLAD takes ~5 minutes on trec, M-MSR longer): every
crowd-kit result is saved to ``benchmarks/results/crowdkit_methods.csv`` as soon as it is
measured, and ``--reuse`` takes saved results instead of re-running them; ``--skip-slow`` does
not run the crowd-kit (dataset, method) pairs listed in ``SLOW`` (saved results are still used
if present). Rows taken from a saved file are marked ``saved`` in the ``ck_source`` column:
their time ratio compares runs made at different times.

Usage::

    python benchmarks/bench_methods.py                   # everything, both libraries
    python benchmarks/bench_methods.py --reuse           # re-run crowdmix, reuse saved crowd-kit
    python benchmarks/bench_methods.py --only crowdkit   # crowd-kit only (to run in background)
    python benchmarks/bench_methods.py --datasets bird,rte --methods mv,wawa,kos

Outputs: ``benchmarks/results/crowdmix_methods.csv``, ``crowdkit_methods.csv`` and the
combined Markdown table ``methods_table.md`` (pasted into docs/methods.md).
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing as mp
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from crowdmix import as_answers
from crowdmix.datasets import load_crowd_benchmark
from crowdmix.metrics import error_rate

RESULTS = Path(__file__).resolve().parent / "results"
DATASETS = ["bird", "rte", "dog", "web", "trec"]
BINARY_ONLY = {"kos"}

#: method key -> (label in the table, crowd-kit class name or None)
METHODS: dict[str, tuple[str, str | None]] = {
    "mv": ("majority vote", "MajorityVote"),
    "ds": ("Dawid-Skene (full)", "DawidSkene"),
    "diagonal": ("Dawid-Skene (diagonal)", None),
    "one-coin": ("one-coin Dawid-Skene", "OneCoinDawidSkene"),
    "spectral": ("Dawid-Skene, spectral init (Opt-D&S)", None),
    "glad": ("GLAD", "GLAD"),
    "mace": ("MACE", "MACE"),
    "wawa": ("Wawa", "Wawa"),
    "zbs": ("zero-based skill", "ZeroBasedSkill"),
    "kos": ("KOS (binary)", "KOS"),
    "mmsr": ("M-MSR", "MMSR"),
}

#: crowd-kit runs that take minutes (GLAD 16-460 s, MACE 25-160 s here, M-MSR on trec);
#: --skip-slow leaves them out and reuses their saved results
SLOW = {(d, m) for d in DATASETS for m in ("glad", "mace")} | {("trec", "mmsr")}


# ------------------------------------------------------------------------------------- crowdmix
def crowdmix_estimator(key: str):
    """The crowdmix estimator for a method key, or None if its module is not available."""
    import crowdmix

    def load(module: str, name: str):
        try:
            return getattr(importlib.import_module(f"crowdmix.{module}"), name)
        except (ImportError, AttributeError):
            return None

    if key == "mv":
        return crowdmix.MajorityVote()
    if key in ("ds", "diagonal", "one-coin"):
        conf = {"ds": "full", "diagonal": "diagonal", "one-coin": "one_coin"}[key]
        return crowdmix.DawidSkene(confusion=conf)
    if key == "spectral":
        est = crowdmix.DawidSkene(init="spectral", random_state=0)
        return est if _supports_spectral() else None
    factories = {
        "glad": ("glad", "GLAD"),
        "mace": ("mace", "MACE"),
        "wawa": ("wawa", "Wawa"),
        "zbs": ("wawa", "ZeroBasedSkill"),
        "kos": ("kos", "KOS"),
        "mmsr": ("mmsr", "MMSR"),
    }
    cls = load(*factories[key])
    if cls is None:
        return None
    params = cls().get_params()
    return cls(random_state=0) if "random_state" in params else cls()


def _supports_spectral() -> bool:
    """Whether DawidSkene accepts init="spectral" (the tiny fit tells)."""
    import crowdmix
    from crowdmix.datasets import make_crowd

    crowd = make_crowd(n_tasks=30, n_workers=9, n_classes=2, random_state=0)
    try:
        crowdmix.DawidSkene(init="spectral", random_state=0).fit(crowd.answers)
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return False
    return True


def n_iterations(est) -> float:
    for name in ("n_iter_", "n_iterations_"):
        if hasattr(est, name):
            return float(getattr(est, name))
    return float("nan")


def run_crowdmix(datasets: list[str], methods: list[str], repeat: int) -> pd.DataFrame:
    from crowdmix.datasets import make_crowd

    rows = []
    warm = make_crowd(n_tasks=40, n_workers=8, n_classes=2, random_state=1).answers
    for name in datasets:
        bench = load_crowd_benchmark(name)
        ans = as_answers(bench.answers)
        for key in methods:
            if key in BINARY_ONLY and ans.n_classes != 2:
                continue
            est = crowdmix_estimator(key)
            if est is None:
                print(f"crowdmix {key}: not available, skipped", file=sys.stderr)
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit(warm)  # numba compilation (or cache load) out of the timing
                times = []
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    est.fit(ans)
                    times.append(time.perf_counter() - t0)
            err = error_rate(est.labels_, bench.truth)
            rows.append({"dataset": name, "method": key, "error": err, "time_s": min(times),
                         "n_iter": n_iterations(est)})
            print(f"crowdmix {name:5s} {key:9s} error {100 * err:6.2f}%  {min(times):8.3f} s",
                  file=sys.stderr)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ crowd-kit
def _crowdkit_child(name: str, cls_name: str, queue) -> None:
    import crowdkit.aggregation as cka

    bench = load_crowd_benchmark(name)
    est = getattr(cka, cls_name)()
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    try:
        if cls_name in ("Wawa", "ZeroBasedSkill"):
            # crowd-kit 1.4.2's predict() calls sklearn's check_is_fitted on a non-sklearn
            # object, which fails with scikit-learn >= 1.6; do what its _apply does (weighted
            # vote with the fitted skills) directly.
            est.fit(bench.answers)
            labels = cka.MajorityVote().fit(bench.answers, skills=est.skills_).labels_
        else:
            labels = est.fit_predict(bench.answers)
    except Exception as err:  # noqa: BLE001 - report crowd-kit's failure in the table
        queue.put(("failed", f"failed: {type(err).__name__} {str(err)[:60]}".strip()))
        return
    elapsed = time.perf_counter() - t0
    queue.put((error_rate(labels, bench.truth), elapsed))


def run_crowdkit_one(name: str, key: str, timeout: float) -> dict:
    """One crowd-kit fit in a child process (so a runaway method can be stopped)."""
    import crowdkit

    cls_name = METHODS[key][1]
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_crowdkit_child, args=(name, cls_name, queue))
    proc.start()
    proc.join(timeout)
    row = {"dataset": name, "method": key, "crowdkit_version": getattr(crowdkit, "__version__", "?"),
           "measured": time.strftime("%Y-%m-%d %H:%M")}
    if proc.is_alive():
        proc.terminate()
        proc.join()
        row.update(error=float("nan"), time_s=float("nan"), status=f"timeout>{timeout:.0f}s")
    elif proc.exitcode != 0 or queue.empty():
        row.update(error=float("nan"), time_s=float("nan"), status=f"failed (exit {proc.exitcode})")
    else:
        err, elapsed = queue.get()
        if err == "failed":
            row.update(error=float("nan"), time_s=float("nan"), status=elapsed)
        else:
            row.update(error=err, time_s=elapsed, status="ok")
    return row


def run_crowdkit(datasets: list[str], methods: list[str], reuse: bool, skip_slow: bool,
                 timeout: float, retry_failed: bool = False) -> pd.DataFrame:
    path = RESULTS / "crowdkit_methods.csv"
    saved = pd.read_csv(path) if path.exists() else pd.DataFrame(
        columns=["dataset", "method", "error", "time_s", "status", "crowdkit_version", "measured"])
    rows = []
    # fast pairs first, slow ones last
    pairs = [(d, m) for d in datasets for m in methods if METHODS[m][1] is not None]
    pairs.sort(key=lambda p: p in SLOW)
    for name, key in pairs:
        if key in BINARY_ONLY and load_crowd_benchmark(name).n_classes != 2:
            continue
        old = saved[(saved.dataset == name) & (saved.method == key)]
        if retry_failed and len(old) and old.iloc[-1]["status"] == "ok":
            reuse_this = True
        else:
            reuse_this = reuse and not retry_failed
        if (reuse_this or (skip_slow and (name, key) in SLOW)) and len(old):
            row = old.iloc[-1].to_dict()
            row["source"] = "saved"
            rows.append(row)
            continue
        if skip_slow and (name, key) in SLOW:
            continue
        row = run_crowdkit_one(name, key, timeout)
        print(f"crowd-kit {name:5s} {key:9s} error {100 * row['error']:6.2f}%  "
              f"{row['time_s']:8.2f} s  {row['status']}", file=sys.stderr)
        saved = pd.concat([saved[~((saved.dataset == name) & (saved.method == key))],
                           pd.DataFrame([row])], ignore_index=True)
        _write_atomic(saved, path)
        row["source"] = "this run"
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------- report
def _write_atomic(frame: pd.DataFrame, path: Path, text: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    if text:
        tmp.write_text(frame)  # type: ignore[arg-type]
    else:
        frame.to_csv(tmp, index=False)
    os.replace(tmp, path)


def combined_table(ours: pd.DataFrame, theirs: pd.DataFrame) -> pd.DataFrame:
    ours = ours.rename(columns={"error": "crowdmix_error", "time_s": "crowdmix_s"})
    if len(theirs):
        theirs = theirs.rename(columns={"error": "crowdkit_error", "time_s": "crowdkit_s",
                                        "source": "ck_source"})
        cols = ["dataset", "method", "crowdkit_error", "crowdkit_s", "status", "ck_source"]
        table = ours.merge(theirs[cols], on=["dataset", "method"], how="outer")
    else:
        table = ours.assign(crowdkit_error=np.nan, crowdkit_s=np.nan, status="", ck_source="")
    table["diff_points"] = 100 * (table["crowdmix_error"] - table["crowdkit_error"])
    table["speedup"] = table["crowdkit_s"] / table["crowdmix_s"]
    order = {k: i for i, k in enumerate(METHODS)}
    dorder = {k: i for i, k in enumerate(DATASETS)}
    table = table.sort_values(["dataset", "method"], key=lambda s: s.map({**order, **dorder}))
    return table.reset_index(drop=True)


def markdown(table: pd.DataFrame) -> str:
    def pct(x):
        return "" if pd.isna(x) else f"{100 * x:.2f}"

    lines = ["| dataset | method | crowdmix error % | crowd-kit error % | difference (points) "
             "| iterations | speed-up (crowd-kit time / crowdmix time) |",
             "|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        ck = pct(r.crowdkit_error)
        if not ck and isinstance(r.status, str) and r.status not in ("", "ok"):
            ck = r.status
        elif not ck:
            ck = "n/a"
        note = " (saved)" if getattr(r, "ck_source", "") == "saved" else ""
        diff = "" if pd.isna(r.diff_points) else f"{r.diff_points:+.2f}"
        speed = "" if pd.isna(r.speedup) else f"{r.speedup:,.0f}x{note}" if r.speedup >= 10 \
            else f"{r.speedup:.1f}x{note}"
        it = "" if pd.isna(r.n_iter) else f"{int(r.n_iter)}"
        lines.append(f"| {r.dataset} | {METHODS[r.method][0]} | {pct(r.crowdmix_error)} | {ck} "
                     f"| {diff} | {it} | {speed} |")
    return "\n".join(lines) + "\n"


def tie_table(datasets: list[str]) -> str:
    """Majority vote under the three tie-breaking rules in use (no fitting involved)."""
    try:
        import crowdkit.aggregation as cka
    except ImportError:
        cka = None
    from crowdmix import MajorityVote
    from crowdmix.metrics import majority_vote_expected_error

    lines = ["| dataset | ties to the first class (crowdmix default) | crowd-kit's order "
             "(most frequent label first) | uniform random tie-break (expected) |",
             "|---|---|---|---|"]
    for name in datasets:
        b = load_crowd_benchmark(name)
        first = error_rate(MajorityVote().fit_predict(b.answers), b.truth)
        ck = "n/a" if cka is None else \
            f"{100 * error_rate(cka.MajorityVote().fit(b.answers).labels_, b.truth):.2f}"
        rand = majority_vote_expected_error(b.answers, b.truth)
        lines.append(f"| {name} | {100 * first:.2f} | {ck} | {100 * rand:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--only", choices=["crowdmix", "crowdkit"], default=None)
    p.add_argument("--reuse", action="store_true", help="reuse every saved crowd-kit result")
    p.add_argument("--retry-failed", action="store_true",
                   help="reuse saved crowd-kit results that succeeded, re-run the others")
    p.add_argument("--skip-slow", action="store_true",
                   help="do not run slow crowd-kit pairs (use saved results if any)")
    p.add_argument("--timeout", type=float, default=1800.0, help="per crowd-kit fit, seconds")
    p.add_argument("--repeat", type=int, default=3, help="crowdmix timing: best of this many fits")
    args = p.parse_args(argv)
    datasets = args.datasets.split(",")
    methods = args.methods.split(",")
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        p.error(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    RESULTS.mkdir(exist_ok=True)
    theirs = pd.DataFrame()
    if args.only != "crowdmix":
        try:
            import crowdkit  # noqa: F401
        except ImportError:
            print("crowd-kit is not installed: crowdmix only", file=sys.stderr)
        else:
            theirs = run_crowdkit(datasets, methods, args.reuse, args.skip_slow, args.timeout,
                                  args.retry_failed)
    if args.only == "crowdkit":
        return 0
    ours = run_crowdmix(datasets, methods, args.repeat)
    _write_atomic(ours, RESULTS / "crowdmix_methods.csv")
    table = combined_table(ours, theirs)
    text = markdown(table) + "\n" + tie_table(datasets)
    _write_atomic(text, RESULTS / "methods_table.md", text=True)  # type: ignore[arg-type]
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
