"""Numba kernels of GLAD (Whitehill et al. 2009), with plain-numpy references.

Model: worker ``i`` has ability ``alpha_i``, task ``s`` has inverse difficulty
``beta_s = exp(b_s) > 0``; the worker answers the true class with probability
``sigma(alpha_i beta_s)`` and each of the ``K - 1`` other classes with probability
``(1 - sigma(alpha_i beta_s)) / (K - 1)``.

Data are the encoded answers of :class:`crowdmix.CrowdAnswers` (sorted by task, ``offsets``
per task, ``worker`` and ``label`` codes per answer). Every log-probability uses the stable
``log sigma(x) = -log(1 + exp(-x))`` (:func:`log_sigmoid`), so abilities and difficulties of
any size neither overflow nor underflow, and hundreds of answers per task are summed in log
space.

- :func:`e_step`: posteriors of the true class and the (joint, for clamped tasks)
  log-likelihood.
- :func:`q_and_grad`: the expected complete-data log-likelihood ``Q(alpha, b)`` under fixed
  posteriors and its gradient with respect to ``alpha`` and ``b`` (the M-step objective).

The ``*_ref`` functions are slow, obviously correct numpy versions that tests compare against.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .mdpd import _posterior_row, _sum_parts

__all__ = ["log_sigmoid", "e_step", "q_and_grad", "e_step_serial", "q_and_grad_serial", "log_sigmoid_ref", "e_step_ref", "q_and_grad_ref"]


@njit(cache=True, inline="always")
def log_sigmoid(x):
    """``log(1 / (1 + exp(-x)))`` without overflow for any ``x``."""
    if x >= 0:
        return -np.log1p(np.exp(-x))
    return x - np.log1p(np.exp(x))


@njit(cache=True)
def _e_step_block(offsets, worker, label, alpha, log_beta, log_prior, clamp, lo, hi, resp):
    """E-step of tasks ``lo:hi`` into ``resp``; returns their summed log-likelihood."""
    k = log_prior.shape[0]
    log_other = np.log(k - 1.0)
    buf = np.empty(k)
    ll = 0.0
    for s in range(lo, hi):
        beta = np.exp(log_beta[s])
        base = 0.0
        for j in range(k):
            buf[j] = log_prior[j]
        for j in range(offsets[s], offsets[s + 1]):
            a = alpha[worker[j]] * beta
            soft = np.log1p(np.exp(-abs(a)))  # log sigma(+-a) = min(+-a, 0) - soft
            right = min(a, 0.0) - soft
            wrong = min(-a, 0.0) - soft - log_other
            base += wrong
            buf[label[j]] += right - wrong
        for j in range(k):
            buf[j] += base
        known = clamp[s]
        if known >= 0:
            ll += buf[known]
            for j in range(k):
                resp[s, j] = 0.0
            resp[s, known] = 1.0
        else:
            ll += _posterior_row(buf, resp[s])
    return ll


@njit(cache=True, parallel=True)
def e_step(offsets, worker, label, alpha, log_beta, log_prior, clamp, n_chunks):
    """Posterior of each task's class under GLAD, and the summed log-likelihood.

    Parameters
    ----------
    offsets : int64 (n + 1,)
    worker, label : int (n_answers,)
    alpha : float64 (n_workers,)
    log_beta : float64 (n,)
        ``b_s = log beta_s``.
    log_prior : float64 (K,)
        Log class prior.
    clamp : int64 (n,)
        Known class of a task, ``-1`` when unknown (its posterior is then one-hot and it
        contributes ``log p(answers, y_s)``).
    n_chunks : int
        Number of blocks of tasks processed in parallel.

    Returns
    -------
    resp : float64 (n, K)
    loglik : float
    """
    n = offsets.shape[0] - 1
    resp = np.empty((n, log_prior.shape[0]))
    ll_parts = np.zeros(n_chunks)
    size = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        ll_parts[c] = _e_step_block(offsets, worker, label, alpha, log_beta, log_prior, clamp,
                                    c * size, min(n, (c + 1) * size), resp)
    return resp, ll_parts.sum()


@njit(cache=True)
def e_step_serial(offsets, worker, label, alpha, log_beta, log_prior, clamp):
    """Single-threaded :func:`e_step` (for small inputs called many times)."""
    n = offsets.shape[0] - 1
    resp = np.empty((n, log_prior.shape[0]))
    ll = _e_step_block(offsets, worker, label, alpha, log_beta, log_prior, clamp, 0, n, resp)
    return resp, ll


@njit(cache=True)
def _q_block(offsets, worker, label, resp, alpha, log_beta, lo, hi, grad_alpha, grad_b):
    """Q and gradient contributions of tasks ``lo:hi`` (added to ``grad_alpha``, set in ``grad_b``)."""
    log_other = np.log(resp.shape[1] - 1.0)
    q = 0.0
    for s in range(lo, hi):
        beta = np.exp(log_beta[s])
        gb = 0.0
        for j in range(offsets[s], offsets[s + 1]):
            w = worker[j]
            a = alpha[w] * beta
            p = resp[s, label[j]]
            e = np.exp(-abs(a))
            soft = np.log1p(e)  # log sigma(+-a) = min(+-a, 0) - soft
            q += p * (min(a, 0.0) - soft) + (1.0 - p) * (min(-a, 0.0) - soft - log_other)
            d = p - (1.0 / (1.0 + e) if a >= 0 else e / (1.0 + e))
            grad_alpha[w] += d * beta
            gb += d * a
        grad_b[s] = gb
    return q


@njit(cache=True, parallel=True)
def q_and_grad(offsets, worker, label, resp, alpha, log_beta, n_workers, n_chunks):
    """M-step objective of GLAD and its gradient.

    ``Q = sum over answers of p log sigma(a) + (1 - p) (log sigma(-a) - log(K - 1))`` with
    ``a = alpha_i exp(b_s)`` and ``p = resp[s, label]`` the posterior that the answer is right.
    ``dQ/da = p - sigma(a)``, hence ``dQ/dalpha_i = sum_s (p - sigma(a)) beta_s`` and
    ``dQ/db_s = sum_i (p - sigma(a)) alpha_i beta_s``.

    Returns
    -------
    q : float
    grad_alpha : float64 (n_workers,)
    grad_log_beta : float64 (n,)
    """
    n = offsets.shape[0] - 1
    parts = np.zeros((n_chunks, n_workers))
    grad_b = np.zeros(n)
    q_parts = np.zeros(n_chunks)
    size = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        q_parts[c] = _q_block(offsets, worker, label, resp, alpha, log_beta,
                              c * size, min(n, (c + 1) * size), parts[c], grad_b)
    return q_parts.sum(), _sum_parts(parts), grad_b


@njit(cache=True)
def q_and_grad_serial(offsets, worker, label, resp, alpha, log_beta, n_workers):
    """Single-threaded :func:`q_and_grad`."""
    n = offsets.shape[0] - 1
    grad_alpha = np.zeros(n_workers)
    grad_b = np.zeros(n)
    q = _q_block(offsets, worker, label, resp, alpha, log_beta, 0, n, grad_alpha, grad_b)
    return q, grad_alpha, grad_b


# ------------------------------------------------------------------ numpy references
def log_sigmoid_ref(x: np.ndarray) -> np.ndarray:
    """Reference for :func:`log_sigmoid` (vectorised, via ``logaddexp``)."""
    return -np.logaddexp(0.0, -np.asarray(x, dtype=np.float64))


def _task_index(offsets: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))


def e_step_ref(offsets, worker, label, alpha, log_beta, log_prior, clamp):
    """Reference for :func:`e_step`: dense (answers x classes) log-probabilities."""
    from scipy.special import logsumexp

    n, k = len(offsets) - 1, len(log_prior)
    task = _task_index(offsets)
    a = alpha[worker] * np.exp(log_beta[task])
    lp = np.where(
        label[:, None] == np.arange(k)[None, :],
        log_sigmoid_ref(a)[:, None],
        (log_sigmoid_ref(-a) - np.log(k - 1.0))[:, None],
    )
    scores = np.tile(np.asarray(log_prior, dtype=float), (n, 1))
    np.add.at(scores, task, lp)
    ll = logsumexp(scores, axis=1)
    resp = np.exp(scores - ll[:, None])
    rows = np.flatnonzero(np.asarray(clamp) >= 0)
    resp[rows] = 0.0
    resp[rows, clamp[rows]] = 1.0
    ll[rows] = scores[rows, clamp[rows]]
    return resp, float(ll.sum())


def q_and_grad_ref(offsets, worker, label, resp, alpha, log_beta, n_workers):
    """Reference for :func:`q_and_grad`."""
    k = resp.shape[1]
    task = _task_index(offsets)
    beta = np.exp(log_beta[task])
    a = alpha[worker] * beta
    p = resp[task, label]
    q = np.sum(p * log_sigmoid_ref(a) + (1 - p) * (log_sigmoid_ref(-a) - np.log(k - 1.0)))
    d = p - np.exp(log_sigmoid_ref(a))
    grad_alpha = np.bincount(worker, weights=d * beta, minlength=n_workers)
    grad_b = np.bincount(task, weights=d * a, minlength=len(offsets) - 1)
    return float(q), grad_alpha, grad_b
