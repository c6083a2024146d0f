"""Speed and memory of crowdmix's DawidSkene against crowd-kit's, side by side in one run.

Synthetic crowds of 1M and 10M answers, K = 5 classes, 10 answers per task from distinct
workers (one worker per 2,000 answers), workers a mix of spammers (20 %), weak (50 %, accuracy
0.3-0.6) and good (30 %, accuracy 0.6-0.9) one-coin annotators, skewed class prior. The crowd is
generated with numpy (no Python loop over answers) and saved once; both libraries receive the
same pandas DataFrame with int64 columns ``task``, ``worker``, ``label``.

Every measurement runs in its own subprocess (this script re-invoked with ``--child``), which
loads the data, builds the DataFrame, imports the library and warms it up (numba kernels loaded
from their cache), and only then records its resident memory as the *baseline*. Peak memory
of a fit is the highest resident memory during the fit (sampled every 2 ms, and
``getrusage(RUSAGE_SELF).ru_maxrss``) minus that baseline, so the comparison is of the fit
alone, not of the data or the imports.

Measurements (each a subprocess):

- ``iter``: a fit with a fixed number of iterations (crowdmix ``tol=0``, crowd-kit
  ``tol=-inf``); per-iteration time is the median of the time between consecutive iterations
  (crowd-kit: E-step + M-step + ELBO; crowdmix: fused E/M pass, M-step and log-likelihood).
- ``fit``: a whole fit with each library's default stopping rule (crowdmix ``tol=1e-4`` per
  task, crowd-kit ``tol=1e-5`` per answer, i.e. the same scale at 10 answers per task; both at
  most 100 iterations). For crowdmix also a fit with exactly crowd-kit's number of iterations.
  When crowd-kit's whole fit at the largest size would exceed ``--crowdkit-budget`` seconds
  (estimated from its per-iteration time there and its iteration count at the smaller size),
  it is **extrapolated** as setup time + iterations x per-iteration time, and the table says so.
- ``compile``: numba's compile time (first call with an empty cache directory, minus the
  steady-state time of the same call) and the first-call time with the cache populated.

Prints ratios and writes ``benchmarks/results/speed.md``. Usage::

    python benchmarks/bench_speed.py [--sizes 1000000 10000000] [--crowdkit-budget 1200]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
K = 5
PER_TASK = 10


# ----------------------------------------------------------------------------- data
def make_crowd_arrays(n_answers: int, k: int = K, per_task: int = PER_TASK, seed: int = 0):
    """Integer-coded synthetic crowd (task, worker, label, truth), vectorised with numpy.

    Worker ``j`` of task ``t`` is drawn from the ``j``-th of ``per_task`` equal buckets of
    worker IDs (shifted by a random per-task offset), so the workers of a task are distinct.
    """
    rng = np.random.default_rng(seed)
    n_tasks = n_answers // per_task
    n_workers = max(10 * per_task, n_answers // 2000) // per_task * per_task
    stride = n_workers // per_task
    base = rng.integers(0, n_workers, size=(n_tasks, 1))
    worker = (base + np.arange(per_task) * stride
              + rng.integers(0, stride, size=(n_tasks, per_task))) % n_workers
    prior = np.linspace(2.0, 1.0, k)
    truth = rng.choice(k, size=n_tasks, p=prior / prior.sum())
    kind = rng.random(n_workers)
    acc = np.where(kind < 0.2, 1.0 / k,
                   np.where(kind < 0.7, rng.uniform(0.3, 0.6, n_workers),
                            rng.uniform(0.6, 0.9, n_workers)))
    correct = rng.random((n_tasks, per_task)) < acc[worker]
    wrong = (truth[:, None] + rng.integers(1, k, size=(n_tasks, per_task))) % k
    label = np.where(correct, truth[:, None], wrong)
    task = np.repeat(np.arange(n_tasks, dtype=np.int64), per_task)
    return task, worker.ravel().astype(np.int64), label.ravel().astype(np.int64), truth


# ----------------------------------------------------------------------------- memory
def current_rss() -> int:
    """Resident set size of this process in bytes (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def max_rss() -> int:
    """Peak resident set size of this process so far, bytes (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakSampler:
    """Highest RSS while the ``with`` block runs (sampled every ``interval`` s + ru_maxrss)."""

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss())
            time.sleep(self.interval)

    def __enter__(self) -> PeakSampler:
        self.baseline = current_rss()
        self._maxrss_before = max_rss()
        self.peak = self.baseline
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss())
        after = max_rss()
        if after > self._maxrss_before:  # the fit set a new high-water mark: exact peak
            self.peak = max(self.peak, after)

    @property
    def fit_bytes(self) -> int:
        return self.peak - self.baseline


# ----------------------------------------------------------------------------- children
def _now() -> tuple[float, float]:
    """Wall-clock and process CPU time (all threads)."""
    return time.perf_counter(), time.process_time()


def _load_frame(path: str):
    import pandas as pd

    data = np.load(path)
    return pd.DataFrame({"task": data["task"], "worker": data["worker"], "label": data["label"]})


def _crowdmix_estimator(stamps: list[float], **params):
    from crowdmix import DawidSkene

    class TimedDawidSkene(DawidSkene):
        """Records a timestamp after every EM iteration (through the progress hook)."""

        def _progress(self, run):
            return lambda iteration, objective: stamps.append(_now())

    return TimedDawidSkene(verbose=1, **params)


def _crowdkit_estimator(stamps: list[float], **params):
    from crowdkit.aggregation import DawidSkene as CkDawidSkene

    class TimedCkDawidSkene(CkDawidSkene):
        """Records the start of the first E-step and the end of every iteration (its ELBO)."""

        def _e_step(self, *args, **kwargs):
            if not stamps:
                stamps.append(_now())
            return super()._e_step(*args, **kwargs)

        def _evidence_lower_bound(self, *args, **kwargs):
            out = super()._evidence_lower_bound(*args, **kwargs)
            stamps.append(_now())
            return out

    return TimedCkDawidSkene(**params)


def child(args: argparse.Namespace) -> dict:
    frame = _load_frame(args.data)
    stamps: list[float] = []
    if args.library == "crowdmix":
        from crowdmix import DawidSkene
        from crowdmix.exceptions import ConvergenceWarning

        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        DawidSkene().fit(frame.iloc[:2000])  # loads (or compiles) the numba kernels
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        DawidSkene().fit(frame.iloc[:2000])
        steady = time.perf_counter() - t0
        if args.mode == "compile":
            # the parallel kernels (used from SERIAL_BELOW answers on) compile on first use too
            from crowdmix import as_answers
            from crowdmix.kernels.mdpd import em_pass, m_step_counts

            ans = as_answers(frame.iloc[:2000])
            n_codes = ans.n_workers * ans.n_classes
            resp = np.full((ans.n_tasks, ans.n_classes), 1.0 / ans.n_classes)
            lp = np.log(np.full((n_codes, ans.n_classes), 1.0 / ans.n_classes))
            clamp = np.full(ans.n_tasks, -1, dtype=np.int64)

            def parallel_pass():
                m_step_counts(ans.offsets, ans.value_codes, resp, n_codes, 2)
                em_pass(ans.offsets, ans.value_codes, lp, np.log(resp[0]), clamp, n_codes, 2)

            t0 = time.perf_counter()
            parallel_pass()
            par_first = time.perf_counter() - t0
            t0 = time.perf_counter()
            parallel_pass()
            par_steady = time.perf_counter() - t0
            return {"first_call": warm, "steady": steady,
                    "parallel_first_call": par_first, "parallel_steady": par_steady}
        params = ({"max_iter": args.n_iter, "tol": 0.0} if args.mode == "iter"
                  else {"max_iter": args.n_iter or 100} | ({"tol": 0.0} if args.n_iter else {}))
        est = _crowdmix_estimator(stamps, **params)
    else:
        params = ({"n_iter": args.n_iter, "tol": -np.inf} if args.mode == "iter"
                  else {"n_iter": 100, "tol": 1e-5})
        est = _crowdkit_estimator(stamps, **params)
    import gc

    gc.collect()
    with PeakSampler() as mem:
        start, cpu_start = _now()
        est.fit(frame)
        end, cpu_end = _now()
    total, cpu = end - start, cpu_end - cpu_start
    if args.library == "crowdmix":
        n_iter = int(est.n_iter_)
        labels = est.labels_.sort_index().to_numpy()
        # first stamp = end of iteration 1; setup = encoding + initial M-step + iteration 1
    else:
        n_iter = len(est.loss_history_)
        labels = est.labels_.sort_index().to_numpy()
        # stamps[0] is the start of the first E-step
    stamps_arr = np.asarray(stamps).reshape(-1, 2)
    iter_times = np.diff(stamps_arr[:, 0])
    iter_cpu = np.diff(stamps_arr[:, 1])
    truth = np.load(args.data)["truth"]
    return {
        "total": total,
        "n_iter": n_iter,
        "per_iter": float(np.median(iter_times)) if len(iter_times) else float("nan"),
        "setup": total - float(np.sum(iter_times)),
        "cpu": cpu,
        "per_iter_cpu": float(np.median(iter_cpu)) if len(iter_cpu) else float("nan"),
        "peak_fit_bytes": mem.fit_bytes,
        "baseline_bytes": mem.baseline,
        "error": float(np.mean(labels != truth)),
    }


def run_child(library: str, mode: str, data: str, n_iter: int = 0, env: dict | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", "--library", library, "--mode", mode,
           "--data", data, "--n-iter", str(n_iter)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{library} {mode} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  {library:8s} {mode:7s} n_iter={n_iter or 'default'}: "
          + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in result.items()), flush=True)
    return result


# ----------------------------------------------------------------------------- parent
def measure_compile(data: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="crowdmix-numba-cache-") as cache:
        cold = run_child("crowdmix", "compile", data, env=os.environ | {"NUMBA_CACHE_DIR": cache})
    warm = run_child("crowdmix", "compile", data)
    return {"compile": cold["first_call"] - cold["steady"],
            "compile_parallel": cold["parallel_first_call"] - cold["parallel_steady"],
            "cached_first_call": warm["first_call"] - warm["steady"],
            "cached_parallel_first_call": warm["parallel_first_call"] - warm["parallel_steady"],
            "steady_small_fit": warm["steady"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--library", choices=["crowdmix", "crowdkit"])
    parser.add_argument("--mode", choices=["iter", "fit", "compile"])
    parser.add_argument("--data")
    parser.add_argument("--n-iter", type=int, default=0)
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e6, 1e7])
    parser.add_argument("--iter-runs", type=int, default=3,
                        help="iterations of the fixed-iteration runs (per-iteration timing)")
    parser.add_argument("--crowdkit-budget", type=float, default=1200.0,
                        help="seconds: extrapolate crowd-kit's whole fit beyond this")
    parser.add_argument("--skip-crowdkit-fit-above", type=float, default=None,
                        help="always extrapolate crowd-kit's whole fit above this many answers")
    parser.add_argument("--compile-only", action="store_true",
                        help="only measure numba compile and cache-load times")
    parser.add_argument("--out", default=str(RESULTS / "speed.md"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    if args.compile_only:
        with tempfile.TemporaryDirectory(prefix="crowdmix-bench-") as tmp:
            path = str(Path(tmp) / "crowd.npz")
            task, worker, label, truth = make_crowd_arrays(100_000)
            np.savez(path, task=task, worker=worker, label=label, truth=truth)
            times = measure_compile(path)
        text = "# numba compile and cache-load times\n\n" + compile_note(times) + "\n"
        print(text)
        out = RESULTS / "compile.md"
        out.write_text(text)
        print(f"wrote {out}")
        return

    rows = []
    ck_iters_small = None
    with tempfile.TemporaryDirectory(prefix="crowdmix-bench-") as tmp:
        for size in sorted(int(s) for s in args.sizes):
            task, worker, label, truth = make_crowd_arrays(size)
            path = str(Path(tmp) / f"crowd_{size}.npz")
            np.savez(path, task=task, worker=worker, label=label, truth=truth)
            n_tasks, n_workers = len(truth), int(worker.max()) + 1
            del task, worker, label, truth
            print(f"\n{size:,} answers, {n_tasks:,} tasks, {n_workers:,} workers, K={K}", flush=True)
            row = {"size": size, "n_tasks": n_tasks, "n_workers": n_workers}
            row["cm_iter"] = run_child("crowdmix", "iter", path, args.iter_runs + 1)
            row["ck_iter"] = run_child("crowdkit", "iter", path, args.iter_runs)
            row["cm_fit"] = run_child("crowdmix", "fit", path)
            est_ck = None
            if ck_iters_small is not None:
                est_ck = row["ck_iter"]["setup"] + ck_iters_small * row["ck_iter"]["per_iter"]
            too_big = (args.skip_crowdkit_fit_above is not None
                       and size > args.skip_crowdkit_fit_above)
            if est_ck is not None and (too_big or est_ck > args.crowdkit_budget):
                row["ck_fit"] = {
                    "total": est_ck, "n_iter": ck_iters_small,
                    "per_iter": row["ck_iter"]["per_iter"],
                    "peak_fit_bytes": row["ck_iter"]["peak_fit_bytes"],
                    "error": float("nan"), "extrapolated": True,
                }
                print(f"  crowdkit fit     extrapolated: setup {row['ck_iter']['setup']:.1f} s + "
                      f"{ck_iters_small} iterations x {row['ck_iter']['per_iter']:.2f} s = "
                      f"{est_ck:.0f} s", flush=True)
            else:
                row["ck_fit"] = run_child("crowdkit", "fit", path) | {"extrapolated": False}
                ck_iters_small = row["ck_fit"]["n_iter"]
            n_same = row["ck_fit"]["n_iter"]
            row["cm_fit_same"] = run_child("crowdmix", "fit", path, n_same)
            one_thread = os.environ | {"NUMBA_NUM_THREADS": "1"}
            row["cm1_iter"] = run_child("crowdmix", "iter", path, args.iter_runs + 1, env=one_thread)
            row["cm1_fit"] = run_child("crowdmix", "fit", path, env=one_thread)
            rows.append(row)
        row0 = rows[0]
        compile_times = measure_compile(str(Path(tmp) / f"crowd_{row0['size']}.npz"))

    text = report(rows, compile_times)
    print("\n" + text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}")


def _mib(b: float) -> str:
    return f"{b / 2**20:,.0f}"


def report(rows: list[dict], compile_times: dict) -> str:
    lines = [
        "# crowdmix DawidSkene vs crowd-kit DawidSkene: speed and memory",
        "",
        "Generated by `python benchmarks/bench_speed.py` (both libraries in the same run, one "
        "subprocess per measurement, the same int64 DataFrame; K = 5, 10 answers per task). "
        "Ratios are crowd-kit / crowdmix (higher is better for crowdmix). *Wall* ratios are "
        "elapsed time; *CPU* ratios are process CPU time over all threads (less sensitive to "
        "other jobs on a shared machine). Peak memory is the fit's peak resident memory above "
        "the baseline of the loaded data and imports. crowdmix runs with numba's default threads "
        "unless marked *1 thread* (`NUMBA_NUM_THREADS=1`).",
        "",
        "| answers | tasks | workers | per-iteration ratio, wall | per-iteration ratio, CPU "
        "| whole-fit ratio, wall | whole-fit ratio, CPU | whole-fit ratio, same iteration count "
        "| peak-memory ratio | iterations crowdmix / crowd-kit |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cm_it, ck_it, cm_fit, ck_fit, same = (r["cm_iter"], r["ck_iter"], r["cm_fit"],
                                              r["ck_fit"], r["cm_fit_same"])
        ext = ck_fit.get("extrapolated")
        tag = " (crowd-kit extrapolated)" if ext else ""
        mem_ck = max(ck_it["peak_fit_bytes"], ck_fit["peak_fit_bytes"])
        mem_cm = max(cm_it["peak_fit_bytes"], cm_fit["peak_fit_bytes"], same["peak_fit_bytes"])
        cpu_fit = "n/a (extrapolated)" if ext else f"{ck_fit['cpu'] / cm_fit['cpu']:.1f}x"
        lines.append(
            f"| {r['size']:,} | {r['n_tasks']:,} | {r['n_workers']:,} "
            f"| {ck_it['per_iter'] / cm_it['per_iter']:.1f}x "
            f"| {ck_it['per_iter_cpu'] / cm_it['per_iter_cpu']:.1f}x "
            f"| {ck_fit['total'] / cm_fit['total']:.1f}x{tag} | {cpu_fit} "
            f"| {ck_fit['total'] / same['total']:.1f}x{tag} "
            f"| {mem_ck / max(mem_cm, 1):.1f}x | {cm_fit['n_iter']} / {ck_fit['n_iter']}"
            f"{' (crowd-kit: from the smaller size)' if ext else ''} |"
        )
    lines += [
        "",
        "crowdmix on 1 thread (`NUMBA_NUM_THREADS=1`), same run, against the same crowd-kit "
        "measurements:",
        "",
        "| answers | per-iteration ratio, wall | per-iteration ratio, CPU | whole-fit ratio, wall "
        "| peak-memory ratio |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        ck_it, ck_fit, it1, fit1 = r["ck_iter"], r["ck_fit"], r["cm1_iter"], r["cm1_fit"]
        tag = " (crowd-kit extrapolated)" if ck_fit.get("extrapolated") else ""
        mem_ck = max(ck_it["peak_fit_bytes"], ck_fit["peak_fit_bytes"])
        mem1 = max(it1["peak_fit_bytes"], fit1["peak_fit_bytes"])
        lines.append(
            f"| {r['size']:,} | {ck_it['per_iter'] / it1['per_iter']:.1f}x "
            f"| {ck_it['per_iter_cpu'] / it1['per_iter_cpu']:.1f}x "
            f"| {ck_fit['total'] / fit1['total']:.1f}x{tag} | {mem_ck / max(mem1, 1):.1f}x |"
        )
    lines += [
        "",
        "Absolute values of the same run (seconds and MiB; the machine is shared, so read the "
        "ratios above rather than these). *Setup* is everything in the fit but the timed "
        "iterations (crowdmix: encoding the DataFrame, the majority-vote start and the first "
        "iteration; crowd-kit: the majority-vote start and the first M-step).",
        "",
        "| answers | library | per iteration, wall (s) | per iteration, CPU (s) | setup (s) "
        "| whole fit, wall (s) | whole fit, CPU (s) | iterations | peak fit memory (MiB) "
        "| baseline (MiB) | error vs truth |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for name, it, fit in (("crowdmix", r["cm_iter"], r["cm_fit"]),
                              ("crowdmix, crowd-kit's iteration count", r["cm_iter"],
                               r["cm_fit_same"]),
                              ("crowdmix, 1 thread", r["cm1_iter"], r["cm1_fit"]),
                              ("crowd-kit", r["ck_iter"], r["ck_fit"])):
            ext = fit.get("extrapolated")
            mem = max(it["peak_fit_bytes"], fit["peak_fit_bytes"])
            err = "n/a (extrapolated)" if ext else f"{100 * fit['error']:.2f} %"
            total = f"{fit['total']:.2f}" + (" (extrapolated)" if ext else "")
            cpu = "n/a" if ext else f"{fit['cpu']:.2f}"
            lines.append(
                f"| {r['size']:,} | {name} | {it['per_iter']:.3f} | {it['per_iter_cpu']:.3f} "
                f"| {it['setup']:.2f} | {total} | {cpu} | {fit['n_iter']} | {_mib(mem)} "
                f"| {_mib(it['baseline_bytes'])} | {err} |"
            )
    lines += ["", compile_note(compile_times), ""]
    return "\n".join(lines)


def compile_note(compile_times: dict) -> str:
    return "".join([
        "numba compile time (first call with an empty cache directory minus the steady state "
        "of the same call): a small DawidSkene fit, which uses the serial kernels, "
        f"{compile_times['compile']:.1f} s; the parallel kernels (first used from "
        f"2M answers on) {compile_times['compile_parallel']:.1f} s more. With the cache "
        "populated (`cache=True`, the normal case after the first run) the first call costs "
        f"{compile_times['cached_first_call']:.2f} s (serial) and "
        f"{compile_times['cached_parallel_first_call']:.2f} s (parallel) extra. A small fit "
        f"(2,000 answers) in steady state: {compile_times['steady_small_fit'] * 1000:.0f} ms.",
    ])


if __name__ == "__main__":
    main()
