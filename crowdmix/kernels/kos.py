"""Message passing of Karger, Oh & Shah (KOS) on the task-worker graph, in numba.

Every answer is an edge ``e = (task t, worker w)`` with a sign ``A_e = +1`` or ``-1`` (the
binary answer). Messages live on edges: ``x_e`` (task to worker, "what the other workers of
task t say") and ``y_e`` (worker to task, "how reliable the other answers of worker w make
them"). One iteration::

    x_e = sum_{e' in task(e), e' != e}   A_e' y_e'
    y_e = sum_{e' in worker(e), e' != e} A_e' x_e'

The update is linear, so only the direction of ``y`` matters for the final signs: the kernel
rescales ``y`` to unit root-mean-square after every iteration (the original algorithm lets the
messages grow geometrically and overflows after a few dozen iterations on dense crowds) and
stops when the rescaled messages move by less than ``tol``.

:func:`kos_messages_ref` is the plain-numpy reference the tests compare the kernel with.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["kos_messages", "kos_messages_ref"]


@njit(cache=True)
def kos_messages(task, worker, sign, y0, n_tasks, n_workers, max_iter, tol):
    """Iterate the KOS messages from ``y0``.

    Parameters
    ----------
    task, worker : int32 arrays (n_edges,)
        Task and worker code of every answer.
    sign : float64 array (n_edges,)
        +1.0 or -1.0: the binary answer.
    y0 : float64 array (n_edges,)
        Initial worker-to-task messages (KOS: independent N(1, 1) draws).
    n_tasks, n_workers : int
    max_iter : int
        Maximum number of iterations.
    tol : float
        Stop when the largest change of a (unit-RMS) message is below ``tol``.

    Returns
    -------
    task_score : float64 array (n_tasks,)
        ``sum_{e in task} A_e y_e`` with the final messages: its sign is the label.
    worker_score : float64 array (n_workers,)
        ``sum_{e in worker} A_e x_e`` with the final task messages (worker reliability).
    y : float64 array (n_edges,)
        Final worker-to-task messages (unit RMS).
    n_iter : int
    converged : bool
    """
    n = task.shape[0]
    y = y0.copy()
    x = np.zeros(n)
    ynew = np.zeros(n)
    tsum = np.zeros(n_tasks)
    wsum = np.zeros(n_workers)
    n_iter = 0
    converged = False
    for it in range(max_iter):
        n_iter = it + 1
        tsum[:] = 0.0
        for e in range(n):
            tsum[task[e]] += sign[e] * y[e]
        for e in range(n):
            x[e] = tsum[task[e]] - sign[e] * y[e]
        wsum[:] = 0.0
        for e in range(n):
            wsum[worker[e]] += sign[e] * x[e]
        sq = 0.0
        for e in range(n):
            ynew[e] = wsum[worker[e]] - sign[e] * x[e]
            sq += ynew[e] * ynew[e]
        if sq == 0.0 or not np.isfinite(sq):  # no information flows (e.g. one answer per task)
            break
        scale = 1.0 / np.sqrt(sq / n)
        change = 0.0
        for e in range(n):
            v = ynew[e] * scale
            d = abs(v - y[e])
            if d > change:
                change = d
            y[e] = v
        if change < tol:
            converged = True
            break
    task_score = np.zeros(n_tasks)
    for e in range(n):
        task_score[task[e]] += sign[e] * y[e]
    # worker reliability from the task messages of the final messages
    tsum[:] = task_score
    worker_score = np.zeros(n_workers)
    for e in range(n):
        worker_score[worker[e]] += sign[e] * (tsum[task[e]] - sign[e] * y[e])
    return task_score, worker_score, y, n_iter, converged


def kos_messages_ref(task, worker, sign, y0, n_tasks, n_workers, max_iter, tol):
    """Plain-numpy reference of :func:`kos_messages` (same arguments and results)."""
    sign = np.asarray(sign, dtype=np.float64)
    y = np.asarray(y0, dtype=np.float64).copy()
    n = y.shape[0]
    n_iter, converged = 0, False
    for it in range(max_iter):
        n_iter = it + 1
        x = np.bincount(task, weights=sign * y, minlength=n_tasks)[task] - sign * y
        ynew = np.bincount(worker, weights=sign * x, minlength=n_workers)[worker] - sign * x
        sq = float(np.sum(ynew**2))
        if sq == 0.0 or not np.isfinite(sq):
            break
        ynew = ynew / np.sqrt(sq / n)
        change = float(np.max(np.abs(ynew - y)))
        y = ynew
        if change < tol:
            converged = True
            break
    task_score = np.bincount(task, weights=sign * y, minlength=n_tasks)
    x = task_score[task] - sign * y
    worker_score = np.bincount(worker, weights=sign * x, minlength=n_workers)
    return task_score, worker_score, y, n_iter, converged
