"""Plain-numpy reference implementations of the kernels in :mod:`crowdmix.kernels.mdpd`.

Slow and obviously correct: the tests compare every numba kernel with these.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

__all__ = ["e_step_ref", "m_step_counts_ref", "em_pass_ref", "log_scores_ref"]


def _sample_index(offsets: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))


def log_scores_ref(offsets, codes, log_params, log_weights) -> np.ndarray:
    """``log w_k + sum_i log C_i(x_si | k)`` for every sample and component, shape (n, c)."""
    n = len(offsets) - 1
    scores = np.tile(np.asarray(log_weights, dtype=float), (n, 1))
    np.add.at(scores, _sample_index(offsets), log_params[codes])
    return scores


def e_step_ref(offsets, codes, log_params, log_weights):
    """Reference for :func:`crowdmix.kernels.mdpd.e_step`."""
    scores = log_scores_ref(offsets, codes, log_params, log_weights)
    ll = logsumexp(scores, axis=1)
    return np.exp(scores - ll[:, None]), ll


def m_step_counts_ref(offsets, codes, resp, n_codes):
    """Reference for :func:`crowdmix.kernels.mdpd.m_step_counts`."""
    counts = np.zeros((n_codes, resp.shape[1]))
    np.add.at(counts, codes, resp[_sample_index(offsets)])
    return counts


def em_pass_ref(offsets, codes, log_params, log_weights, clamp, n_codes):
    """Reference for :func:`crowdmix.kernels.mdpd.em_pass`."""
    scores = log_scores_ref(offsets, codes, log_params, log_weights)
    ll = logsumexp(scores, axis=1)
    resp = np.exp(scores - ll[:, None])
    known = np.asarray(clamp) >= 0
    rows = np.flatnonzero(known)
    resp[rows] = 0.0
    resp[rows, clamp[rows]] = 1.0
    ll[rows] = scores[rows, clamp[rows]]
    return resp, m_step_counts_ref(offsets, codes, resp, n_codes), float(ll.sum())
