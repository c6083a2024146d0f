"""Numba kernels for encoding crowd answers.

``sort_by_task_worker`` is a stable two-pass counting (LSD radix) sort of answers by
(task, worker): O(n + n_tasks + n_workers) instead of the O(n log n) of ``np.lexsort``. Its
plain-numpy reference is ``np.lexsort((worker, task))``, which gives the same permutation.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["sort_by_task_worker"]


@njit(cache=True)
def _counting_order(keys, n_keys, order_in):
    """Stable counting sort of ``order_in`` by ``keys[order_in]``."""
    n = order_in.shape[0]
    starts = np.zeros(n_keys + 1, dtype=np.int64)
    for j in range(n):
        starts[keys[order_in[j]] + 1] += 1
    for k in range(n_keys):
        starts[k + 1] += starts[k]
    out = np.empty(n, dtype=np.int64)
    for j in range(n):
        key = keys[order_in[j]]
        out[starts[key]] = order_in[j]
        starts[key] += 1
    return out


@njit(cache=True)
def sort_by_task_worker(task, worker, n_tasks, n_workers):
    """Permutation sorting answers by task, then worker; equal pairs keep their input order."""
    identity = np.arange(task.shape[0])
    by_worker = _counting_order(worker, n_workers, identity)
    return _counting_order(task, n_tasks, by_worker)
