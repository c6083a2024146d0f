"""Plain-numpy references of :mod:`crowdmix.kernels.residual_mi` (slow, obviously correct).

They build the dense samples x value-codes one-hot matrix ``X`` (a missing value is an all-zero
block) and compute every joint table as ``X^T diag(q_k) X`` with dense matrix products; the
tests compare the numba kernels with them on small data.
"""

from __future__ import annotations

import numpy as np

__all__ = ["one_hot_ref", "pair_tables_ref", "residual_mi_ref"]


def one_hot_ref(offsets: np.ndarray, codes: np.ndarray, n_codes: int) -> np.ndarray:
    """Dense 0/1 matrix ``X[s, code]``."""
    n = len(offsets) - 1
    x = np.zeros((n, n_codes))
    x[np.repeat(np.arange(n), np.diff(offsets)), codes] = 1.0
    return x


def pair_tables_ref(offsets, codes, start: np.ndarray, resp: np.ndarray) -> dict:
    """Joint tables ``{(i, j): array (c, r_i, r_j)}`` for every pair ``i < j``."""
    start = np.asarray(start)
    x = one_hot_ref(offsets, codes, int(start[-1]))
    m = len(start) - 1
    out = {}
    for i in range(m):
        for j in range(i + 1, m):
            xi = x[:, start[i]:start[i + 1]]
            xj = x[:, start[j]:start[j + 1]]
            out[(i, j)] = np.stack([xi.T @ (resp[:, [k]] * xj) for k in range(resp.shape[1])])
    return out


def _mi(table: np.ndarray) -> float:
    total = table.sum()
    if total <= 0:
        return 0.0
    p = table / total
    pa = p.sum(axis=1, keepdims=True)
    pb = p.sum(axis=0, keepdims=True)
    nz = p > 0
    return float(max(0.0, np.sum(p[nz] * np.log(p[nz] / (pa @ pb)[nz]))))


def residual_mi_ref(offsets, codes, start: np.ndarray, resp: np.ndarray):
    """Dense ``(m, m, c)`` arrays of ``I_k(i, j)`` (symmetric, zero diagonal) and table masses."""
    m = len(start) - 1
    c = resp.shape[1]
    mi = np.zeros((m, m, c))
    mass = np.zeros((m, m, c))
    for (i, j), tabs in pair_tables_ref(offsets, codes, start, resp).items():
        for k in range(c):
            mi[i, j, k] = mi[j, i, k] = _mi(tabs[k])
            mass[i, j, k] = mass[j, i, k] = tabs[k].sum()
    return mi, mass
