"""Numba kernels for the residual conditional mutual information of stagewise EM.

Zhao & Zucker's stagewise EM (ALGORITHMS.md §3) needs, at every stage, the mutual information
of every pair of features ``(i, j)`` *within* every component ``k``, with the samples weighted
by their posteriors ``q_s(k)``:

    p_k(a, b) = sum_s q_s(k) [x_si = a][x_sj = b] / sum_s q_s(k) [both observed]
    I_k(i, j) = sum_{a,b} p_k(a, b) log( p_k(a, b) / (p_k(a) p_k(b)) )

with the marginals taken from the same joint (so missing values are marginalised and
``I_k >= 0``). A dense ``n x m x m`` tensor is never formed. The pairs that are ever observed
together are found once (:func:`pair_structure`, a sparse product of the samples x features
presence matrix); at each stage one pass over the samples fills the weighted joint tables of
those pairs for all components at once (:func:`pair_tables`, ``O(sum_s n_s^2 c)`` for ``n_s``
observed features of sample ``s``), and :func:`pair_mutual_information` turns the tables into
``I_k(i, j)``. Tables are the same numbers as the blocks of the weighted co-occurrence matrix
``X^T diag(q_k) X`` of :func:`crowdmix.kernels.cooccurrence.cooccurrence`; the tests check it.

Plain-numpy references: :mod:`crowdmix.kernels.residual_mi_reference`.

References
----------
Zhao, V. and Zucker, S. W. (2015). Stagewise learning for sparse clustering of
discretely-valued data. arXiv:1506.02975.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

__all__ = ["PairStructure", "pair_structure", "pair_tables", "pair_mutual_information"]


@dataclass(frozen=True)
class PairStructure:
    """The feature pairs ``i < j`` observed together in at least one sample.

    Attributes
    ----------
    indptr, indices : int64 arrays
        CSR rows of the upper triangle: the partners ``j > i`` of feature ``i`` are
        ``indices[indptr[i]:indptr[i + 1]]`` (sorted); pair ``p`` is that position.
    first, second : int64 arrays (n_pairs,)
        The two features of each pair (``first < second``).
    overlap : int64 array (n_pairs,)
        Number of samples in which both features are observed.
    block_start : int64 array (n_pairs + 1,)
        Pair ``p`` owns the rows ``block_start[p]:block_start[p + 1]`` of a table array
        (its ``r_i x r_j`` joint table, row-major).
    """

    indptr: np.ndarray
    indices: np.ndarray
    first: np.ndarray
    second: np.ndarray
    overlap: np.ndarray
    block_start: np.ndarray

    @property
    def n_pairs(self) -> int:
        return int(self.first.shape[0])


def pair_structure(
    offsets: np.ndarray, codes: np.ndarray, feature_of_code: np.ndarray, sizes: np.ndarray
) -> PairStructure:
    """Find the co-observed feature pairs with one sparse product (no Python loop over data).

    Parameters
    ----------
    offsets, codes
        Encoded samples (see :mod:`crowdmix.kernels.mdpd`).
    feature_of_code : int array (n_codes,)
        Feature of each value code.
    sizes : int array (n_features,)
        Alphabet size of each feature.
    """
    n = len(offsets) - 1
    m = len(sizes)
    feats = np.asarray(feature_of_code, dtype=np.int64)[np.asarray(codes)]
    presence = sp.csr_matrix(
        (np.ones(len(feats)), feats, np.asarray(offsets, dtype=np.int64)), shape=(n, m)
    )
    presence.sum_duplicates()
    gram = sp.triu(presence.T.tocsr() @ presence, k=1).tocsr()
    gram.sort_indices()
    indptr = gram.indptr.astype(np.int64)
    indices = gram.indices.astype(np.int64)
    first = np.repeat(np.arange(m, dtype=np.int64), np.diff(indptr))
    sizes = np.asarray(sizes, dtype=np.int64)
    block = sizes[first] * sizes[indices]
    block_start = np.zeros(len(first) + 1, dtype=np.int64)
    np.cumsum(block, out=block_start[1:])
    overlap = np.rint(gram.data).astype(np.int64)
    return PairStructure(indptr, indices, first, indices.copy(), overlap, block_start)


def feature_samples(offsets: np.ndarray, codes: np.ndarray, feature_of_code: np.ndarray, n_features: int):
    """For each feature, the positions (into ``codes``) of its observed values, sample by sample.

    Returns ``(indptr, positions)``: the observed values of feature ``i`` sit at
    ``codes[positions[indptr[i]:indptr[i + 1]]]``.
    """
    feats = np.asarray(feature_of_code, dtype=np.int64)[np.asarray(codes)]
    order = np.argsort(feats, kind="stable")
    indptr = np.zeros(n_features + 1, dtype=np.int64)
    np.cumsum(np.bincount(feats, minlength=n_features), out=indptr[1:])
    return indptr, order.astype(np.int64)


def balanced_order(n: int) -> np.ndarray:
    """Row order 0, n-1, 1, n-2, ... so that contiguous chunks get similar upper-triangle work."""
    idx = np.arange(n, dtype=np.int64)
    out = np.empty(n, dtype=np.int64)
    out[0::2] = idx[: (n + 1) // 2]
    out[1::2] = idx[::-1][: n // 2]
    return out


@njit(cache=True, parallel=True)
def pair_tables(
    offsets,
    codes,
    sample_of_value,
    feature_of_code,
    value_of_code,
    sizes,
    feat_indptr,
    feat_positions,
    row_order,
    pair_indptr,
    pair_indices,
    block_start,
    resp,
    n_chunks,
):
    """Weighted joint tables of every co-observed pair for every component.

    ``tables[block_start[p] + a * r_j + b, k] = sum_s resp[s, k] [x_si = a][x_sj = b]`` for pair
    ``p = (i, j)``, ``i < j``. Parallel over features ``i`` (each thread owns its rows of the
    pair structure, so no two threads write the same table).

    Parameters
    ----------
    offsets, codes
        Encoded samples.
    sample_of_value : int64 array (n_values,)
        Sample of each observed value.
    feature_of_code, value_of_code : int64 arrays (n_codes,)
        Feature and value (``0 .. r_i - 1``) of each code.
    sizes : int64 array (n_features,)
    feat_indptr, feat_positions
        From :func:`feature_samples`.
    row_order : int64 array (n_features,)
        Order in which features are processed (see :func:`balanced_order`).
    pair_indptr, pair_indices, block_start
        From :func:`pair_structure`.
    resp : float64 array (n, c)
    n_chunks : int

    Returns
    -------
    tables : float64 array (block_start[-1], c)
    """
    m = sizes.shape[0]
    c = resp.shape[1]
    tables = np.zeros((block_start[-1], c))
    size = (m + n_chunks - 1) // n_chunks
    for b in prange(n_chunks):
        slot = np.full(m, -1, dtype=np.int64)
        for t in range(b * size, min(m, (b + 1) * size)):
            i = row_order[t]
            p0 = pair_indptr[i]
            p1 = pair_indptr[i + 1]
            if p0 == p1:
                continue
            for p in range(p0, p1):
                slot[pair_indices[p]] = p
            for u_idx in range(feat_indptr[i], feat_indptr[i + 1]):
                u = feat_positions[u_idx]
                s = sample_of_value[u]
                a = value_of_code[codes[u]]
                for v in range(offsets[s], offsets[s + 1]):
                    code_v = codes[v]
                    j = feature_of_code[code_v]
                    if j <= i:
                        continue
                    p = slot[j]
                    row = block_start[p] + a * sizes[j] + value_of_code[code_v]
                    for k in range(c):
                        tables[row, k] += resp[s, k]
            for p in range(p0, p1):
                slot[pair_indices[p]] = -1
    return tables


@njit(cache=True, inline="always")
def _xlogx(x):
    return x * np.log(x) if x > 0.0 else 0.0


@njit(cache=True, parallel=True)
def pair_mutual_information(tables, pair_first, pair_second, sizes, block_start):
    """Mutual information of each pair's table in each component, and the table masses.

    Returns
    -------
    mi : float64 array (n_pairs, c)
        ``I_k(i, j)`` in nats, from the joint normalised over the samples where both features
        are observed (0 for an empty table; tiny negative rounding clipped to 0).
    mass : float64 array (n_pairs, c)
        ``sum_s q_s(k) [both observed]``.
    """
    n_pairs = pair_first.shape[0]
    c = tables.shape[1]
    mi = np.zeros((n_pairs, c))
    mass = np.zeros((n_pairs, c))
    for p in prange(n_pairs):
        ri = sizes[pair_first[p]]
        rj = sizes[pair_second[p]]
        base = block_start[p]
        row_m = np.empty(ri)
        col_m = np.empty(rj)
        for k in range(c):
            joint = 0.0
            total = 0.0
            for a in range(ri):
                row_m[a] = 0.0
            for b in range(rj):
                col_m[b] = 0.0
            for a in range(ri):
                for b in range(rj):
                    x = tables[base + a * rj + b, k]
                    if x < 0.0:
                        x = 0.0
                    joint += _xlogx(x)
                    row_m[a] += x
                    col_m[b] += x
                    total += x
            mass[p, k] = total
            if total <= 0.0:
                continue
            marg = 0.0
            for a in range(ri):
                marg += _xlogx(row_m[a])
            for b in range(rj):
                marg += _xlogx(col_m[b])
            val = (joint - marg + _xlogx(total)) / total
            mi[p, k] = val if val > 0.0 else 0.0
    return mi, mass
