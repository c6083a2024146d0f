"""Speed of the pairwise mutual information of workers (crowdmix.pairwise_mutual_information,
crowdmix.rank_workers) on trec (762 workers, 88k answers) and on a synthetic crowd of 10,000
workers and 1M answers.

Printed as ratios (the machine is shared and noisy): crowdmix's numba kernel against a
vectorised scipy.sparse implementation of the same estimator (K^2 sparse products
``X_a^T X_b``), and against one Dawid-Skene fit (crowdmix's and crowd-kit's, when installed) as
a familiar unit of work. Run: ``python benchmarks/bench_mi_speed.py``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp

from crowdmix import CrowdAnswers, DawidSkene, as_answers
from crowdmix.datasets import load_crowd_benchmark
from crowdmix.mutual_information import pairwise_mi_table, pairwise_mutual_information, rank_workers

warnings.filterwarnings("ignore")


def scipy_pairwise_mi(ans: CrowdAnswers) -> sp.csr_matrix:
    """Plug-in pairwise MI with scipy.sparse only: K^2 products of per-label indicators."""
    k, m, n = ans.n_classes, ans.n_workers, ans.n_tasks
    xs = [sp.csr_matrix((np.ones(int((ans.label == a).sum())),
                         (ans.task[ans.label == a], ans.worker[ans.label == a])), shape=(n, m))
          for a in range(k)]
    x = sum(xs)
    overlap = (x.T @ x).tocsr()
    overlap.setdiag(0)
    overlap.eliminate_zeros()
    pattern = overlap.copy()
    pattern.data[:] = 1e-300
    tables = []
    for a in range(k):
        for b in range(k):
            nab = (xs[a].T @ xs[b]).tocsr() + pattern  # same sparsity pattern for every (a, b)
            nab = nab.multiply(pattern.astype(bool)).tocsr()
            nab.sort_indices()
            tables.append(nab.data)
    t = np.stack(tables).reshape(k, k, -1)
    total = t.sum(axis=(0, 1))
    row = t.sum(axis=1, keepdims=True)
    col = t.sum(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(t > 1e-200, t * np.log(t * total / (row * col)), 0.0)
    mi = np.maximum(terms.sum(axis=(0, 1)) / total, 0.0)
    out = pattern.copy()
    out.data = mi
    return out


def best_time(fn, repeat: int = 3) -> float:
    fn()  # warm-up (numba compilation, caches)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def synthetic(n_tasks: int = 100_000, n_workers: int = 10_000, per_task: int = 10,
              seed: int = 0) -> CrowdAnswers:
    """Heavy-tailed worker activity (Pareto), 3 classes, random answers: 1M answers."""
    rng = np.random.default_rng(seed)
    activity = rng.pareto(1.5, n_workers) + 1.0
    keys = np.empty((n_tasks, per_task), dtype=np.int64)
    inv = 1.0 / activity
    for start in range(0, n_tasks, 2000):  # weighted sampling without replacement, in blocks
        stop = min(start + 2000, n_tasks)
        k = rng.standard_exponential((stop - start, n_workers)) * inv
        keys[start:stop] = np.argpartition(k, per_task, axis=1)[:, :per_task]
    task = np.repeat(np.arange(n_tasks), per_task)
    labels = rng.integers(3, size=task.size)
    return CrowdAnswers.from_codes(task, keys.ravel(), labels, pd.RangeIndex(n_tasks),
                                   pd.RangeIndex(n_workers), pd.Index([0, 1, 2]))


def crowdkit_ds_time(ans: CrowdAnswers) -> float | None:
    try:
        from crowdkit.aggregation import DawidSkene as CKDawidSkene
    except ImportError:
        return None
    frame = ans.to_frame()
    return best_time(lambda: CKDawidSkene(n_iter=100).fit(frame), repeat=1)


def report(name: str, ans: CrowdAnswers, with_crowdkit: bool) -> None:
    t_table = best_time(lambda: pairwise_mi_table(ans))
    t_rank = best_time(lambda: rank_workers(ans))
    t_rank_mi = best_time(lambda: rank_workers(ans, score="sum", skill=False))
    t_scipy = best_time(lambda: scipy_pairwise_mi(ans), repeat=1)
    t_ds = best_time(lambda: DawidSkene().fit(ans), repeat=1)
    check = scipy_pairwise_mi(ans)
    ours = pairwise_mi_table(ans).mi
    assert abs(check - ours).max() < 1e-9, "the two implementations disagree"
    print(f"\n### {name}: {ans.n_workers:,} workers, {ans.n_answers:,} answers\n")
    print("| quantity | ratio |")
    print("|---|---|")
    print(f"| scipy.sparse implementation / crowdmix kernel (pairwise MI) | {t_scipy / t_table:.1f}x |")
    print(f"| rank_workers (default: with the skill iteration) / one crowdmix DawidSkene fit | "
          f"{t_rank / t_ds:.2f} |")
    print(f"| rank_workers(score='sum', skill=False) / one crowdmix DawidSkene fit | "
          f"{t_rank_mi / t_ds:.2f} |")
    if with_crowdkit:
        t_ck = crowdkit_ds_time(ans)
        if t_ck is not None:
            print(f"| one crowd-kit DawidSkene fit / rank_workers | {t_ck / t_rank:.1f}x |")
    if ans.n_workers <= 2000:
        t_df = best_time(lambda: pairwise_mutual_information(ans))
        print(f"| pairwise_mutual_information (dense DataFrame) / one crowdmix DawidSkene fit | "
              f"{t_df / t_ds:.2f} |")
    print(f"\n(absolute, for orientation only: pairwise MI {t_table:.3f} s, rank_workers "
          f"{t_rank:.3f} s (without skill {t_rank_mi:.3f} s), scipy {t_scipy:.3f} s, DawidSkene {t_ds:.3f} s)")


def main() -> None:
    try:
        trec = as_answers(load_crowd_benchmark("trec").answers)
    except Exception as err:  # noqa: BLE001 - shared data absent: skip that part
        print(f"trec skipped: {err}")
    else:
        report("trec", trec, with_crowdkit=True)
    report("synthetic", synthetic(), with_crowdkit=False)


if __name__ == "__main__":
    main()
