"""Numba kernels for EM in a mixture of discrete product distributions (MDPD).

The data are encoded as in :class:`crowdmix.CrowdAnswers`: samples (tasks) ``s = 0..n-1``, whose
observed values are the rows ``offsets[s]:offsets[s + 1]`` of ``codes``. A *value code* indexes a
row of the parameter table ``log_params`` (shape ``(n_codes, c)``): the code of value ``a`` of
feature ``i`` is ``feature_start[i] + a`` (for crowd answers ``worker * K + label``), and
``log_params[code, k] = log C_i(a | k)``. Missing values have no code and contribute nothing,
which marginalises them out.

Every kernel works on one *block* of samples: pass a slice of ``offsets`` (rebased to start at 0)
and the matching slice of ``codes``; sufficient statistics of blocks add up to those of the whole.

Setting rows of ``log_params`` to zero removes those features from the E-step (used for the
expert-only E-step of Zhao & Zucker's methods) without another kernel.

``em_pass`` and ``m_step_counts`` run serially when ``n_chunks == 1`` (what
:func:`default_n_chunks` returns for fewer than ``SERIAL_BELOW`` observed values) and otherwise
split the samples into ``n_chunks`` contiguous chunks processed in parallel, each with its own
count table, summed in chunk order, so results do not depend on the thread schedule.

Plain-numpy references of each kernel live in :mod:`crowdmix.kernels.reference`.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

__all__ = ["e_step", "em_pass", "m_step_counts", "default_n_chunks"]


# Below this many observed values a pass runs serially (a serial pass over 2M values takes
# ~50 ms on one core): launching the thread pool costs ~0.1 ms on an idle machine but tens of
# milliseconds per call on an oversubscribed one (measured in benchmarks/bench_speed.py).
SERIAL_BELOW = 2_000_000
# Upper bound on the memory of the per-chunk count tables (n_chunks x n_codes x c float64).
PARTS_BUDGET_BYTES = 256 * 2**20
# Samples per batch inside a chunk: the E-step of a batch (reads ``log_params``) runs before its
# M-step statistics (writes the count table), so each phase keeps one table in cache.
_BATCH = 16384


def default_n_chunks(
    n_samples: int,
    n_values: int | None = None,
    n_codes: int | None = None,
    n_components: int | None = None,
) -> int:
    """Number of independent chunks for the parallel kernels.

    Two per thread and at most one per sample; one (a serial run) when fewer than
    ``SERIAL_BELOW`` values are observed (``n_values``); and, when ``n_codes`` and
    ``n_components`` are given, few enough that the per-chunk count tables fit in
    ``PARTS_BUDGET_BYTES``.
    """
    if n_values is not None and n_values < SERIAL_BELOW:
        return 1
    chunks = max(1, min(n_samples, 2 * numba.get_num_threads()))
    if n_codes and n_components:
        chunks = min(chunks, max(1, PARTS_BUDGET_BYTES // (8 * int(n_codes) * int(n_components))))
    return chunks


@njit(cache=True, inline="always")
def _posterior_row(buf, out_row):
    """Normalise log scores ``buf`` into ``out_row`` with log-sum-exp; return the log normaliser."""
    c = buf.shape[0]
    mx = -np.inf
    for k in range(c):
        if buf[k] > mx:
            mx = buf[k]
    if mx == -np.inf:  # impossible under the model: report it and spread the posterior evenly
        for k in range(c):
            out_row[k] = 1.0 / c
        return -np.inf
    tot = 0.0
    for k in range(c):
        e = np.exp(buf[k] - mx)
        out_row[k] = e
        tot += e
    for k in range(c):
        out_row[k] /= tot
    return mx + np.log(tot)


@njit(cache=True, parallel=True)
def e_step(offsets, codes, log_params, log_weights, n_chunks):
    """Posterior of the latent class per sample, and each sample's log-likelihood.

    Parameters
    ----------
    offsets : int64 array (n + 1,)
    codes : int array (n_values,)
    log_params : float64 array (n_codes, c)
    log_weights : float64 array (c,)
    n_chunks : int

    Returns
    -------
    resp : float64 array (n, c)
        ``q_s(k)``, rows sum to one.
    sample_loglik : float64 array (n,)
        ``log sum_k w_k prod_i C_i(x_si | k)``.
    """
    n = offsets.shape[0] - 1
    c = log_weights.shape[0]
    resp = np.empty((n, c))
    sample_ll = np.empty(n)
    size = (n + n_chunks - 1) // n_chunks
    for b in prange(n_chunks):
        buf = np.empty(c)
        for s in range(b * size, min(n, (b + 1) * size)):
            for k in range(c):
                buf[k] = log_weights[k]
            for j in range(offsets[s], offsets[s + 1]):
                row = codes[j]
                for k in range(c):
                    buf[k] += log_params[row, k]
            sample_ll[s] = _posterior_row(buf, resp[s])
    return resp, sample_ll


@njit(cache=True, inline="always")
def _count_block(offsets, codes, resp, start, stop, part):
    """Add the expected value counts of samples ``start:stop`` to ``part``."""
    c = resp.shape[1]
    for s in range(start, stop):
        for j in range(offsets[s], offsets[s + 1]):
            row = codes[j]
            for k in range(c):
                part[row, k] += resp[s, k]


@njit(cache=True, parallel=True)
def _m_step_counts_parallel(offsets, codes, resp, n_codes, n_chunks):
    n = offsets.shape[0] - 1
    parts = np.zeros((n_chunks, n_codes, resp.shape[1]))
    size = (n + n_chunks - 1) // n_chunks
    for b in prange(n_chunks):
        _count_block(offsets, codes, resp, b * size, min(n, (b + 1) * size), parts[b])
    return _sum_parts(parts)


@njit(cache=True)
def _m_step_counts_serial(offsets, codes, resp, n_codes):
    counts = np.zeros((n_codes, resp.shape[1]))
    _count_block(offsets, codes, resp, 0, offsets.shape[0] - 1, counts)
    return counts


def m_step_counts(offsets, codes, resp, n_codes, n_chunks):
    """Expected counts ``N[code, k] = sum_s q_s(k) [x_s has that value]``, shape (n_codes, c).

    Serial when ``n_chunks == 1``; otherwise ``n_chunks`` chunks in parallel, each with its own
    count table, summed in chunk order.
    """
    if n_chunks <= 1:
        return _m_step_counts_serial(offsets, codes, resp, n_codes)
    return _m_step_counts_parallel(offsets, codes, resp, n_codes, n_chunks)


@njit(cache=True)
def _sum_parts(parts):
    out = np.zeros(parts.shape[1:])
    for b in range(parts.shape[0]):
        out += parts[b]
    return out


@njit(cache=True, inline="always")
def _em_block(offsets, codes, log_params, log_weights, clamp, start, stop, resp, part, buf):
    """E-step of samples ``start:stop`` into ``resp``, their counts added to ``part``; returns
    their (joint, for clamped samples) log-likelihood. Works in batches of ``_BATCH`` samples,
    the E-step of a batch before its counts, for cache locality."""
    c = log_weights.shape[0]
    ll = 0.0
    for b0 in range(start, stop, _BATCH):
        b1 = min(stop, b0 + _BATCH)
        for s in range(b0, b1):
            for k in range(c):
                buf[k] = log_weights[k]
            for j in range(offsets[s], offsets[s + 1]):
                row = codes[j]
                for k in range(c):
                    buf[k] += log_params[row, k]
            known = clamp[s]
            if known >= 0:
                ll += buf[known]
                for k in range(c):
                    resp[s, k] = 0.0
                resp[s, known] = 1.0
            else:
                ll += _posterior_row(buf, resp[s])
        for s in range(b0, b1):
            for j in range(offsets[s], offsets[s + 1]):
                row = codes[j]
                for k in range(c):
                    part[row, k] += resp[s, k]
    return ll


@njit(cache=True, parallel=True)
def _em_pass_parallel(offsets, codes, log_params, log_weights, clamp, n_codes, n_chunks, resp):
    n = offsets.shape[0] - 1
    c = log_weights.shape[0]
    parts = np.zeros((n_chunks, n_codes, c))
    ll_parts = np.zeros(n_chunks)
    size = (n + n_chunks - 1) // n_chunks
    for b in prange(n_chunks):
        ll_parts[b] = _em_block(offsets, codes, log_params, log_weights, clamp, b * size,
                                min(n, (b + 1) * size), resp, parts[b], np.empty(c))
    return resp, _sum_parts(parts), ll_parts.sum()


@njit(cache=True)
def _em_pass_serial(offsets, codes, log_params, log_weights, clamp, n_codes, resp):
    n = offsets.shape[0] - 1
    c = log_weights.shape[0]
    counts = np.zeros((n_codes, c))
    ll = _em_block(offsets, codes, log_params, log_weights, clamp, 0, n, resp, counts, np.empty(c))
    return resp, counts, ll


def em_pass(offsets, codes, log_params, log_weights, clamp, n_codes, n_chunks, out=None):
    """One pass over the data: E-step with the given parameters and the M-step statistics.

    Samples with ``clamp[s] >= 0`` have a known class: their posterior is the one-hot vector of
    that class and their contribution to the log-likelihood is ``log p(x_s, y_s = clamp[s])``.
    With ``n_chunks == 1`` the pass runs serially (no thread-pool launch); otherwise the
    samples are split into ``n_chunks`` contiguous chunks processed in parallel, each with its
    own count table, and the tables are summed in chunk order (results do not depend on the
    thread schedule).

    ``out``, a C-contiguous float64 array of shape (n, c), receives the posteriors instead of a
    new array (EM reuses one buffer across iterations: no page faults on fresh memory).

    Returns
    -------
    resp : float64 array (n, c)
        ``out`` when given.
    counts : float64 array (n_codes, c)
        Expected value counts under ``resp``.
    loglik : float
        Sum over samples of the (joint, for clamped samples) log-likelihood.
    """
    n, c = offsets.shape[0] - 1, log_weights.shape[0]
    resp = np.empty((n, c)) if out is None else out
    if n_chunks <= 1:
        return _em_pass_serial(offsets, codes, log_params, log_weights, clamp, n_codes, resp)
    return _em_pass_parallel(offsets, codes, log_params, log_weights, clamp, n_codes, n_chunks,
                             resp)
