"""Numba kernel of MACE (Hovy et al. 2013), with a plain-numpy reference.

Model: worker ``i`` spams with probability ``1 - theta_i``; when spamming they answer label
``a`` with probability ``xi_i(a)`` whatever the truth, otherwise they answer the truth. So
``P(answer a | truth k) = theta_i [a = k] + (1 - theta_i) xi_i(a)``.

Everything the E-step needs depends only on the (worker, label) pair, so it is tabulated once
per iteration over the value codes ``code = worker * K + label`` (see
:class:`crowdmix.CrowdAnswers`), and the pass over the answers is table look-ups and additions:

- ``log_spam[code] = log((1 - theta_i) xi_i(a))``: the log-probability of the answer under
  any truth other than ``a``;
- ``gain[code] = log(theta_i + (1 - theta_i) xi_i(a)) - log_spam[code]``: what the truth
  ``k = a`` adds;
- ``know[code] = theta_i / (theta_i + (1 - theta_i) xi_i(a))``: the probability that the
  worker was not spamming, given that the truth is ``a``.

(For variational Bayes the same tables are built from ``exp(E[log theta])`` etc.; the kernel
does not care.) :func:`mace_pass` returns the posteriors of the truth, the summed
log-likelihood and the expected number of "knowing" answers per code, for
several random starts in one pass over the data.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .mdpd import _posterior_row, _sum_parts

__all__ = ["mace_pass", "mace_pass_serial", "mace_pass_ref"]


@njit(cache=True)
def _mace_block(offsets, codes, label, log_spam, gain, know, log_prior, clamp, active, lo, hi,
                resp, ll, know_counts):
    """Tasks ``lo:hi`` for every active start ``r``: posteriors into ``resp[r]``, log-likelihood
    added to ``ll[r]``, expected "knowing" counts added to ``know_counts[r]``."""
    n_starts = log_spam.shape[0]
    k = log_prior.shape[0]
    buf = np.empty(k)
    row = np.empty(k)
    # binary case: the normalisers 1 + e (in [1, 2]) are multiplied up and their log taken only
    # when the product grows large, instead of one log per task
    norm = np.ones(n_starts)
    for s in range(lo, hi):
        a0, a1 = offsets[s], offsets[s + 1]
        known = clamp[s]
        for r in range(n_starts):
            if not active[r]:
                continue
            base = 0.0
            for j in range(k):
                buf[j] = log_prior[j]
            for j in range(a0, a1):
                c = codes[j]
                base += log_spam[r, c]
                buf[label[j]] += gain[r, c]
            for j in range(k):
                buf[j] += base
            if known >= 0:
                ll[r] += buf[known]
                for j in range(k):
                    row[j] = 0.0
                row[known] = 1.0
            elif k == 2:  # one exp and one log1p
                d = buf[1] - buf[0]
                if d > 0:
                    e = np.exp(-d)
                    row[1] = 1.0 / (1.0 + e)
                    row[0] = e * row[1]
                    ll[r] += buf[1]
                else:
                    e = np.exp(d)
                    row[0] = 1.0 / (1.0 + e)
                    row[1] = e * row[0]
                    ll[r] += buf[0]
                norm[r] *= 1.0 + e
                if norm[r] > 1e250:
                    ll[r] += np.log(norm[r])
                    norm[r] = 1.0
            else:
                ll[r] += _posterior_row(buf, row)
            for j in range(k):
                resp[r, s, j] = row[j]
            for j in range(a0, a1):  # spamming counts are the answer counts minus these
                c = codes[j]
                know_counts[r, c] += row[label[j]] * know[r, c]
    for r in range(n_starts):
        ll[r] += np.log(norm[r])


@njit(cache=True, parallel=True)
def mace_pass(offsets, codes, label, log_spam, gain, know, log_prior, clamp, active, resp, n_chunks):
    """One E-step of MACE for several starts at once, with the expected counts of the M-step.

    The answers of a task are read once and reused by every start (``R`` starts cost one pass
    over the data, not ``R``).

    Parameters
    ----------
    offsets : int64 (n + 1,)
    codes : int64 (n_answers,)
        ``worker * K + label`` of every answer.
    label : int (n_answers,)
    log_spam, gain, know : float64 (R, n_codes)
        The tables described in the module docstring, one row per start.
    log_prior : float64 (K,)
    clamp : int64 (n,)
        Known class per task, ``-1`` where unknown.
    active : bool (R,)
        Starts to update; the others are skipped (their ``resp`` rows are left untouched and
        their counts and log-likelihood are zero).
    resp : float64 (R, n, K)
        Posteriors, updated in place for the active starts.
    n_chunks : int

    Returns
    -------
    loglik : float64 (R,)
    know_counts : float64 (R, n_codes)
        Expected number of answers given while not spamming, per code (the expected number
        given while spamming is the number of answers with that code minus this).
    """
    n = offsets.shape[0] - 1
    n_starts, n_codes = log_spam.shape
    kparts = np.zeros((n_chunks, n_starts, n_codes))
    llparts = np.zeros((n_chunks, n_starts))
    size = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        _mace_block(offsets, codes, label, log_spam, gain, know, log_prior, clamp, active,
                    c * size, min(n, (c + 1) * size), resp, llparts[c], kparts[c])
    return _sum_parts(llparts), _sum_parts(kparts)


@njit(cache=True)
def mace_pass_serial(offsets, codes, label, log_spam, gain, know, log_prior, clamp, active, resp):
    """Single-threaded :func:`mace_pass` (MACE calls it up to ``max_iter`` times per fit)."""
    n = offsets.shape[0] - 1
    n_starts, n_codes = log_spam.shape
    know_counts = np.zeros((n_starts, n_codes))
    ll = np.zeros(n_starts)
    _mace_block(offsets, codes, label, log_spam, gain, know, log_prior, clamp, active, 0, n,
                resp, ll, know_counts)
    return ll, know_counts


def mace_pass_ref(offsets, codes, label, log_trust, log_spam_worker, log_strategy, log_prior, clamp):
    """Reference for one start of :func:`mace_pass`, straight from the model's definition.

    Takes the per-worker parameters instead of the tables: ``log_trust`` (m,) = ``log theta``,
    ``log_spam_worker`` (m,) = ``log(1 - theta)``, ``log_strategy`` (m, K) = ``log xi``.
    Builds ``log P(answer | truth k)`` densely for every answer and class.
    """
    from scipy.special import logsumexp

    n, k = len(offsets) - 1, len(log_prior)
    m = len(log_trust)
    task = np.repeat(np.arange(n), np.diff(offsets))
    worker = np.asarray(codes) // k
    spam = log_spam_worker[worker] + log_strategy[worker, label]  # (answers,)
    truth_is_label = label[:, None] == np.arange(k)[None, :]
    lp = np.where(truth_is_label, np.logaddexp(log_trust[worker], spam)[:, None], spam[:, None])
    scores = np.tile(np.asarray(log_prior, dtype=float), (n, 1))
    np.add.at(scores, task, lp)
    ll = logsumexp(scores, axis=1)
    resp = np.exp(scores - ll[:, None])
    rows = np.flatnonzero(np.asarray(clamp) >= 0)
    resp[rows] = 0.0
    resp[rows, clamp[rows]] = 1.0
    ll[rows] = scores[rows, clamp[rows]]
    # P(not spamming, truth = label | answers) for each answer
    not_spam = resp[task, label] * np.exp(log_trust[worker] - np.logaddexp(log_trust[worker], spam))
    know_counts = np.bincount(codes, weights=not_spam, minlength=m * k)
    return resp, float(ll.sum()), know_counts
