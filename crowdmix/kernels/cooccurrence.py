"""Co-occurrence counts of feature values, the raw material of pairwise mutual information.

With the samples x value-codes indicator matrix ``X`` (``X[s, code] = 1`` when sample ``s`` has
that value; see :mod:`crowdmix.kernels.mdpd` for codes) and sample weights ``w``, the weighted
co-occurrence matrix is ``N = X^T diag(w) X``: ``N[(i, a), (j, b)] = sum_s w_s [x_si = a][x_sj = b]``,
the joint table of features i and j over the samples where both are observed. It is computed as
a sparse matrix product, never as a dense samples x features x values tensor.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["indicator_matrix", "cooccurrence"]


def indicator_matrix(offsets: np.ndarray, codes: np.ndarray, n_codes: int) -> sp.csr_matrix:
    """Samples x value-codes 0/1 matrix in CSR form, built from the encoded data without copying
    the structure (``offsets`` are the CSR row pointers and ``codes`` the column indices)."""
    n = len(offsets) - 1
    data = np.ones(len(codes), dtype=np.float64)
    return sp.csr_matrix((data, np.asarray(codes), np.asarray(offsets)), shape=(n, n_codes))


def cooccurrence(
    offsets: np.ndarray,
    codes: np.ndarray,
    n_codes: int,
    weights: np.ndarray | None = None,
    indicator: sp.csr_matrix | None = None,
) -> sp.csr_matrix:
    """Weighted co-occurrence counts ``X^T diag(w) X`` as a sparse (n_codes, n_codes) matrix.

    Parameters
    ----------
    offsets, codes, n_codes
        Encoded data.
    weights : ndarray (n_samples,), optional
        Sample weights (e.g. posteriors ``q_s(k)`` of one component); all ones by default.
    indicator : csr_matrix, optional
        A precomputed :func:`indicator_matrix` of the same data, to avoid rebuilding it.
    """
    x = indicator if indicator is not None else indicator_matrix(offsets, codes, n_codes)
    xt = x.T.tocsr()
    if weights is None:
        return (xt @ x).tocsr()
    return (xt @ sp.diags(np.asarray(weights, dtype=np.float64)) @ x).tocsr()
