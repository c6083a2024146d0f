"""Robust rank-one matrix completion by M-MSR (Ma & Olshevsky 2020), in numba.

The matrix ``X`` (workers x workers, symmetric, observed only on the pairs of workers who share
tasks) is stored as adjacency lists in CSR form (``indptr``, ``indices``, ``values``; row ``i``
lists the observed partners ``j`` of worker ``i`` and ``X[i, j]``). M-MSR looks for ``u v^T``
matching ``X`` on the observed entries, robust to a few adversarial rows: each sweep sets
``v[j]`` to the *trimmed* mean of ``X[i, j] / u[i]`` over the partners ``i`` of ``j`` (the
mean-subsequence-reduced rule: drop the ``F`` largest values above the current ``v[j]`` and
the ``F`` smallest below it, or all of them if there are fewer), then ``u[i]`` likewise from
``X[i, j] / v[j]``, until ``||u v^T - u' v'^T||_F < tol``.

:func:`mmsr_iterate_ref` is the plain-numpy reference (dense matrices, written like
crowd-kit's implementation) that the tests compare the kernel with.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["mmsr_iterate", "mmsr_iterate_ref", "trimmed_mean_ref"]


@njit(cache=True, error_model="numpy")
def _trimmed_update(buf, count, current, n_trim, n_tasks):
    """MSR value of ``buf[:count]`` around ``current``; ``current`` if nothing is left."""
    if count == 0:
        return current
    y = np.sort(buf[:count])
    below = 0
    for q in range(count):
        if y[q] < current:
            below += 1
    start = below if below < n_trim else n_trim
    above = 0
    for q in range(start, count):
        if y[q] > current:
            above += 1
    stop = count - above if above < n_trim else count - n_trim
    if stop <= start:
        return current
    tot = 0.0
    for q in range(start, stop):
        tot += y[q]
    mean = tot / (stop - start)
    if mean == 0.0:  # |s| = 0 would divide by zero in the next sweep: use the smallest level
        return 1.0 / np.sqrt(n_tasks)
    return mean


@njit(cache=True, error_model="numpy")
def mmsr_iterate(indptr, indices, values, u0, v0, n_trim, n_tasks, max_iter, tol):
    """Alternate trimmed-mean updates of ``v`` and ``u`` (see the module docstring).

    Parameters
    ----------
    indptr, indices, values : CSR adjacency of the observed entries of ``X`` (symmetric).
    u0, v0 : float64 arrays (m,)
        Starting vectors.
    n_trim : int
        ``F``, the number of extreme values trimmed on each side (>= 0).
    n_tasks : int
        Number of tasks (a lone zero ratio is replaced by ``1 / sqrt(n_tasks)``).
    max_iter : int
    tol : float

    Returns
    -------
    u, v : float64 arrays (m,)
    losses : float64 array (n_iter,)
        ``||u v^T - u_prev v_prev^T||_F`` after each sweep.
    """
    m = u0.shape[0]
    u = u0.copy()
    v = v0.copy()
    u_prev = np.empty(m)
    v_prev = np.empty(m)
    maxdeg = 0
    for i in range(m):
        d = indptr[i + 1] - indptr[i]
        if d > maxdeg:
            maxdeg = d
    buf = np.empty(max(maxdeg, 1))
    losses = np.empty(max_iter)
    n_done = 0
    for it in range(max_iter):
        u_prev[:] = u
        v_prev[:] = v
        for j in range(m):  # column j of X: partners i of j, values X[i, j] / u[i]
            c = 0
            for p in range(indptr[j], indptr[j + 1]):
                buf[c] = values[p] / u[indices[p]]
                c += 1
            v[j] = _trimmed_update(buf, c, v[j], n_trim, n_tasks)
        for i in range(m):
            c = 0
            for p in range(indptr[i], indptr[i + 1]):
                buf[c] = values[p] / v[indices[p]]
                c += 1
            u[i] = _trimmed_update(buf, c, u[i], n_trim, n_tasks)
        # ||u v^T - u' v'^T||_F with d = (u - u') v^T + u' (v - v')^T, free of cancellation
        aa = 0.0
        vv = 0.0
        au = 0.0
        vb = 0.0
        uu = 0.0
        bb = 0.0
        for i in range(m):
            a = u[i] - u_prev[i]
            b = v[i] - v_prev[i]
            aa += a * a
            vv += v[i] * v[i]
            au += a * u_prev[i]
            vb += v[i] * b
            uu += u_prev[i] * u_prev[i]
            bb += b * b
        sq = aa * vv + 2.0 * au * vb + uu * bb
        losses[it] = np.sqrt(max(sq, 0.0))
        n_done = it + 1
        if losses[it] < tol:
            break
    return u, v, losses[:n_done]


def trimmed_mean_ref(x: np.ndarray, n_trim: int, current: float, n_tasks: int) -> float | None:
    """crowd-kit's ``_remove_largest_and_smallest_F_value`` followed by the mean (None if
    nothing is left); a zero mean becomes ``1 / sqrt(n_tasks)``."""
    y = np.sort(np.asarray(x, dtype=float))
    y = y[y >= current] if np.sum(y < current) < n_trim else y[n_trim:]
    m = y.shape[0]
    y = y[y <= current] if np.sum(y > current) < n_trim else y[: m - n_trim]
    if len(y) == 0:
        return None
    # crowd-kit replaces a lone zero by 1/sqrt(n_tasks); any zero mean would divide by zero in
    # the next sweep (and turn every estimate into NaN), so crowdmix extends that rule
    return 1 / np.sqrt(n_tasks) if y.mean() == 0 else float(y.mean())


def mmsr_iterate_ref(X, observed, u0, v0, n_trim, n_tasks, max_iter, tol):
    """Plain-numpy reference of :func:`mmsr_iterate` on a dense matrix and observation mask."""
    u = np.asarray(u0, dtype=float).copy()
    v = np.asarray(v0, dtype=float).copy()
    losses = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(max_iter):
            u_prev, v_prev = u.copy(), v.copy()
            for j in range(len(v)):
                col = observed[:, j]
                value = trimmed_mean_ref(X[col, j] / u[col], n_trim, v[j], n_tasks)
                if value is not None:
                    v[j] = value
            for i in range(len(u)):
                row = observed[i, :]
                value = trimmed_mean_ref(X[i, row] / v[row], n_trim, u[i], n_tasks)
                if value is not None:
                    u[i] = value
            losses.append(float(np.linalg.norm(np.outer(u, v) - np.outer(u_prev, v_prev))))
            if losses[-1] < tol:
                break
    return u, v, np.array(losses)
