"""Numba kernels: pairwise mutual information of features from co-occurrence counts.

The input is a co-occurrence matrix ``N = X^T diag(w) X`` in CSR form
(:func:`crowdmix.kernels.cooccurrence.cooccurrence`): rows and columns are value codes, the code
of value ``a`` of feature ``i`` being ``start[i] + a``. The block of ``N`` at rows of feature ``i``
and columns of feature ``j`` is the joint table ``N_ij(a, b)`` of the two features over the
samples where **both** are observed. From each non-empty block the kernel computes the plug-in
mutual information

    S_ij = sum_{a,b} p(a, b) log( p(a, b) / (p_i(a) p_j(b)) ),   p = N_ij / n_ij,

with the marginals taken from that same joint and ``0 log 0 = 0``, together with the overlap
``n_ij = sum_ab N_ij(a, b)`` and the Miller-Madow bias term ``(R_ab - R_a - R_b + 1) / (2 n_ij)``
(``R`` = number of non-empty cells, rows and columns), so that callers can choose how to treat
small overlaps. Pairs that never co-occur are absent from the output (their information is 0).

:func:`pairwise_mi_missing_category` computes the authors' older variant where "missing" is one
more value of every feature, over all samples (dense output).

Plain-numpy references: :func:`pairwise_mi_ref` and :func:`pairwise_mi_missing_category_ref`.

References
----------
Zhao, V. and Zucker, S. W. (2017). Feature selection facilitates learning mixtures of discrete
product distributions. arXiv:1711.09195.
Miller, G. A. (1955). Note on the bias of information estimates. In *Information Theory in
Psychology*, 95-100.
"""

from __future__ import annotations

from contextlib import contextmanager

import numba
import numpy as np
from numba import njit, prange

__all__ = [
    "pairwise_mi_answers",
    "pairwise_mi_csr",
    "pairwise_mi_missing_category",
    "pairwise_mi_ref",
    "pairwise_mi_missing_category_ref",
    "work_bounds",
    "threads_for",
    "default_chunks",
]


@njit(cache=True, inline="always")
def _table_mi(tab, j, ri, rj, row, col):
    """Plug-in MI, total and Miller-Madow bias of the joint table ``tab[j, :ri, :rj]``."""
    total = 0.0
    for a in range(ri):
        row[a] = 0.0
    for b in range(rj):
        col[b] = 0.0
    cells = 0
    for a in range(ri):
        for b in range(rj):
            v = tab[j, a, b]
            if v > 0.0:
                row[a] += v
                col[b] += v
                total += v
                cells += 1
    if total <= 0.0:
        return 0.0, 0.0, 0.0
    mi = 0.0
    for a in range(ri):
        for b in range(rj):
            v = tab[j, a, b]
            if v > 0.0:
                mi += v * np.log(v * total / (row[a] * col[b]))
    mi /= total
    if mi < 0.0:  # rounding only: the plug-in MI is non-negative
        mi = 0.0
    nr = 0
    for a in range(ri):
        if row[a] > 0.0:
            nr += 1
    nc = 0
    for b in range(rj):
        if col[b] > 0.0:
            nc += 1
    bias = (cells - nr - nc + 1) / (2.0 * total)
    return mi, total, bias


@njit(cache=True, inline="always")
def _flush_tables(tab, touched, nt, seen, ri, sizes, row, col, base, partner_buf, mi_buf, n_buf,
                  bias_buf):
    """Store the MI of feature ``i`` (alphabet ``ri``) with each touched partner ``j`` in slots
    ``base + t`` of the buffers, and clear those joint tables for the next feature."""
    for t in range(nt):
        j = touched[t]
        rj = sizes[j]
        mi, total, bias = _table_mi(tab, j, ri, rj, row, col)
        partner_buf[base + t] = j
        mi_buf[base + t] = mi
        n_buf[base + t] = total
        bias_buf[base + t] = bias
        for a in range(ri):
            for b in range(rj):
                tab[j, a, b] = 0.0
        seen[j] = False


@njit(cache=True, parallel=True)
def _compact_pairs(count, cap, partner_buf, mi_buf, n_buf, bias_buf):
    """Pack each worker's pair results (slots ``cap[i]:cap[i] + count[i]`` of the buffers) into
    CSR arrays ``ptr, partner, mi, n, bias``."""
    m = count.shape[0]
    ptr = np.zeros(m + 1, dtype=np.int64)
    for i in range(m):
        ptr[i + 1] = ptr[i] + count[i]
    total_pairs = ptr[m]
    partner = np.empty(total_pairs, dtype=np.int64)
    mi_out = np.empty(total_pairs)
    n_out = np.empty(total_pairs)
    bias_out = np.empty(total_pairs)
    for i in prange(m):
        src = cap[i]
        dst = ptr[i]
        for t in range(count[i]):
            partner[dst + t] = partner_buf[src + t]
            mi_out[dst + t] = mi_buf[src + t]
            n_out[dst + t] = n_buf[src + t]
            bias_out[dst + t] = bias_buf[src + t]
    return ptr, partner, mi_out, n_out, bias_out


@njit(cache=True, parallel=True)
def pairwise_mi_csr(indptr, indices, data, start, feature_of_code, n_chunks):
    """Mutual information of every co-occurring feature pair, from a CSR co-occurrence matrix.

    Parameters
    ----------
    indptr, indices, data : arrays
        CSR structure of the (n_codes, n_codes) co-occurrence matrix ``N``.
    start : int64 array (m + 1,)
        Feature ``i`` owns value codes ``start[i]:start[i + 1]``.
    feature_of_code : int64 array (n_codes,)
        Feature of every value code.
    n_chunks : int
        Number of parallel chunks of features.

    Returns
    -------
    ptr : int64 array (m + 1,)
        The partners of feature ``i`` are entries ``ptr[i]:ptr[i + 1]`` of the arrays below.
    partner : int64 array
        Partner feature ``j`` (``j != i``; every unordered pair appears twice, once per side).
    mi : float64 array
        Plug-in mutual information ``S_ij`` (nats).
    overlap : float64 array
        ``n_ij``: (weighted) number of samples where both features are observed.
    bias : float64 array
        Miller-Madow first-order bias ``(R_ab - R_a - R_b + 1) / (2 n_ij)``.
    """
    m = start.shape[0] - 1
    rmax = 1
    for i in range(m):
        r = start[i + 1] - start[i]
        if r > rmax:
            rmax = r
    cap = np.empty(m + 1, dtype=np.int64)
    for i in range(m + 1):
        cap[i] = indptr[start[i]]
    nnz = cap[m]
    sizes = start[1:] - start[:-1]
    partner_buf = np.empty(nnz, dtype=np.int64)
    mi_buf = np.empty(nnz)
    n_buf = np.empty(nnz)
    bias_buf = np.empty(nnz)
    count = np.zeros(m, dtype=np.int64)
    size = (m + n_chunks - 1) // n_chunks
    for ch in prange(n_chunks):
        lo_i = ch * size
        hi_i = min(m, (ch + 1) * size)
        if lo_i >= hi_i:
            continue
        tab = np.zeros((m, rmax, rmax))
        seen = np.zeros(m, dtype=np.bool_)
        touched = np.empty(m, dtype=np.int64)
        row = np.empty(rmax)
        col = np.empty(rmax)
        for i in range(lo_i, hi_i):
            nt = 0
            for r in range(start[i], start[i + 1]):
                a = r - start[i]
                for p in range(indptr[r], indptr[r + 1]):
                    c = indices[p]
                    j = feature_of_code[c]
                    if j == i:
                        continue
                    if not seen[j]:
                        seen[j] = True
                        touched[nt] = j
                        nt += 1
                    tab[j, a, c - start[j]] += data[p]
            _flush_tables(tab, touched, nt, seen, start[i + 1] - start[i], sizes, row, col,
                          cap[i], partner_buf, mi_buf, n_buf, bias_buf)
            count[i] = nt
    return _compact_pairs(count, cap, partner_buf, mi_buf, n_buf, bias_buf)


@njit(cache=True, parallel=True)
def pairwise_mi_answers(offsets, worker, label, task, by_worker_ptr, by_worker_rows, task_weights,
                        cap_ptr, n_workers, n_classes, bounds):
    """Pairwise MI of workers straight from crowd answers (no co-occurrence matrix).

    The joint tables are accumulated task by task: for worker ``i``, every answer ``(s, a)`` of
    ``i`` and every answer ``(j, b)`` of a worker ``j > i`` on task ``s`` add
    ``task_weights[s]`` to ``N_ij(a, b)``. Cost: the number of co-labelled answer pairs.
    Output as :func:`pairwise_mi_csr` (uniform alphabet of ``n_classes`` values) but for the
    **upper triangle only** (``j > i``); the matrix is symmetric.

    Parameters
    ----------
    offsets : int64 (n_tasks + 1,)
        Answers of task ``s`` are rows ``offsets[s]:offsets[s + 1]``.
    worker, label, task : int arrays (n_answers,)
        Codes of each answer (sorted by task).
    by_worker_ptr : int64 (n_workers + 1,), by_worker_rows : int64 (n_answers,)
        The answers of worker ``i`` are rows ``by_worker_rows[by_worker_ptr[i]:by_worker_ptr[i+1]]``.
    task_weights : float64 (n_tasks,)
        Weight of every task (ones for plain counts).
    cap_ptr : int64 (n_workers + 1,)
        Output slots per worker: ``cap_ptr[i + 1] - cap_ptr[i]`` must be at least its number of
        distinct partners ``j > i`` (e.g. ``min(n_workers - 1, co-labelled answer pairs)``).
    bounds : int64 (n_chunks + 1,)
        Parallel chunks of workers: chunk ``c`` handles workers ``bounds[c]:bounds[c + 1]``
        (balance them by work, see :func:`work_bounds`).
    """
    m = n_workers
    k = n_classes
    sizes = np.full(m, k, dtype=np.int64)
    total_cap = cap_ptr[m]
    partner_buf = np.empty(total_cap, dtype=np.int64)
    mi_buf = np.empty(total_cap)
    n_buf = np.empty(total_cap)
    bias_buf = np.empty(total_cap)
    count = np.zeros(m, dtype=np.int64)
    for ch in prange(bounds.shape[0] - 1):
        lo_i = bounds[ch]
        hi_i = bounds[ch + 1]
        if lo_i >= hi_i:
            continue
        tab = np.zeros((m, k, k))
        seen = np.zeros(m, dtype=np.bool_)
        touched = np.empty(m, dtype=np.int64)
        row = np.empty(k)
        col = np.empty(k)
        for i in range(lo_i, hi_i):
            nt = 0
            for p in range(by_worker_ptr[i], by_worker_ptr[i + 1]):
                r = by_worker_rows[p]
                s = task[r]
                a = label[r]
                ws = task_weights[s]
                for q in range(offsets[s], offsets[s + 1]):
                    j = worker[q]
                    if j <= i:  # each unordered pair once, from its smaller worker code
                        continue
                    if not seen[j]:
                        seen[j] = True
                        touched[nt] = j
                        nt += 1
                    tab[j, a, label[q]] += ws
            _flush_tables(tab, touched, nt, seen, k, sizes, row, col, cap_ptr[i],
                          partner_buf, mi_buf, n_buf, bias_buf)
            count[i] = nt
    return _compact_pairs(count, cap_ptr, partner_buf, mi_buf, n_buf, bias_buf)


@njit(cache=True, parallel=True)
def pairwise_mi_missing_category(indptr, indices, data, start, feature_of_code, code_counts,
                                 n_samples, n_chunks):
    """Dense (m, m) MI where "missing" is an extra value of every feature, over all samples.

    ``code_counts[c]`` is the number of samples with value code ``c``. For features ``i, j``
    with alphabets extended by a "missing" value, the joint table over all ``n_samples`` is the
    co-occurrence block, bordered by ``count_i(a) - sum_b N_ij(a, b)`` (i answered, j missing)
    and the both-missing cell ``n - n_i - n_j + n_ij``. This is the authors' first variant
    (Zhao & Zucker 2017); it rewards features that are missing on the same samples.
    ``n_chunks`` parallel chunks of features (see :func:`default_chunks`).
    """
    m = start.shape[0] - 1
    rmax = 1
    for i in range(m):
        r = start[i + 1] - start[i]
        if r > rmax:
            rmax = r
    ext = rmax + 1
    out = np.zeros((m, m))
    size = (m + n_chunks - 1) // n_chunks
    for ch in prange(n_chunks):
        tab = np.zeros((m, ext, ext))
        row = np.empty(ext)
        col = np.empty(ext)
        for i in range(ch * size, min(m, (ch + 1) * size)):
            ri = start[i + 1] - start[i]
            n_i = 0.0
            for a in range(ri):
                n_i += code_counts[start[i] + a]
            for r in range(start[i], start[i + 1]):
                a = r - start[i]
                for p in range(indptr[r], indptr[r + 1]):
                    c = indices[p]
                    j = feature_of_code[c]
                    if j != i:
                        tab[j, a, c - start[j]] += data[p]
            for j in range(m):
                if j == i:
                    continue
                rj = start[j + 1] - start[j]
                n_j = 0.0
                for b in range(rj):
                    n_j += code_counts[start[j] + b]
                both = 0.0
                for a in range(ri):
                    rowsum = 0.0
                    for b in range(rj):
                        rowsum += tab[j, a, b]
                    tab[j, a, rj] = code_counts[start[i] + a] - rowsum
                    both += rowsum
                for b in range(rj):
                    colsum = 0.0
                    for a in range(ri):
                        colsum += tab[j, a, b]
                    tab[j, ri, b] = code_counts[start[j] + b] - colsum
                tab[j, ri, rj] = n_samples - n_i - n_j + both
                mi, _, _ = _table_mi(tab, j, ri + 1, rj + 1, row, col)
                out[i, j] = mi
                for a in range(ri + 1):
                    for b in range(rj + 1):
                        tab[j, a, b] = 0.0
    return out


# --------------------------------------------------------------------------- references


def _mi_of_table(table: np.ndarray) -> tuple[float, float, float]:
    total = table.sum()
    if total <= 0:
        return 0.0, 0.0, 0.0
    p = table / total
    pa = p.sum(axis=1, keepdims=True)
    pb = p.sum(axis=0, keepdims=True)
    nz = p > 0
    mi = float(np.sum(p[nz] * np.log(p[nz] / (pa @ pb)[nz])))
    bias = (nz.sum() - (pa > 0).sum() - (pb > 0).sum() + 1) / (2.0 * total)
    return max(mi, 0.0), float(total), float(bias)


def pairwise_mi_ref(dense_codes: np.ndarray, sizes: np.ndarray, weights: np.ndarray | None = None):
    """Reference for :func:`pairwise_mi_csr` on a dense samples x features matrix.

    ``dense_codes[s, i]`` is the value of feature ``i`` in sample ``s`` (``0..sizes[i]-1``) or
    ``-1`` if missing. Returns dense (m, m) arrays ``mi``, ``overlap`` and ``bias`` (zero for
    pairs that never co-occur and on the diagonal).
    """
    n, m = dense_codes.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    mi = np.zeros((m, m))
    overlap = np.zeros((m, m))
    bias = np.zeros((m, m))
    for i in range(m):
        for j in range(m):
            if i == j:
                continue
            both = (dense_codes[:, i] >= 0) & (dense_codes[:, j] >= 0)
            table = np.zeros((sizes[i], sizes[j]))
            np.add.at(table, (dense_codes[both, i], dense_codes[both, j]), w[both])
            mi[i, j], overlap[i, j], bias[i, j] = _mi_of_table(table)
    return mi, overlap, bias


def pairwise_mi_missing_category_ref(dense_codes: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Reference for :func:`pairwise_mi_missing_category` (missing coded as one more value)."""
    n, m = dense_codes.shape
    ext = np.where(dense_codes < 0, np.asarray(sizes)[None, :], dense_codes)
    out = np.zeros((m, m))
    for i in range(m):
        for j in range(m):
            if i == j:
                continue
            table = np.zeros((sizes[i] + 1, sizes[j] + 1))
            np.add.at(table, (ext[:, i], ext[:, j]), 1.0)
            out[i, j] = _mi_of_table(table)[0]
    return out


@contextmanager
def threads_for(bounds: np.ndarray):
    """Run a parallel kernel on one thread when it has a single chunk.

    Launching a parallel region costs tens of milliseconds on a busy machine (measured: 64 ms
    instead of 9 ms for trec's pairwise MI on a loaded 2-core box), more than small inputs take.
    """
    if len(bounds) > 2:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def work_bounds(work: np.ndarray, min_work_per_chunk: float = 2e6) -> np.ndarray:
    """Chunk boundaries over items with the given work, balanced by cumulative work.

    One chunk (serial) when the total is below ``min_work_per_chunk`` (threads do not pay on
    small inputs, least of all on a busy machine), else up to four chunks per thread.
    """
    work = np.asarray(work, dtype=np.float64)
    total = float(work.sum())
    n = len(work)
    n_chunks = int(min(4 * numba.get_num_threads(), max(1, total // min_work_per_chunk), max(n, 1)))
    if n_chunks <= 1:
        return np.array([0, n], dtype=np.int64)
    cum = np.cumsum(work)
    cuts = np.searchsorted(cum, np.linspace(0.0, total, n_chunks + 1)[1:-1], side="right")
    return np.unique(np.concatenate([[0], cuts, [n]])).astype(np.int64)


def default_chunks(m: int) -> int:
    """Parallel chunks for :func:`pairwise_mi_csr`: a few per thread for load balance."""
    return max(1, min(m, 4 * numba.get_num_threads()))
