"""MACE: multi-annotator competence estimation (Hovy et al. 2013)."""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln

from .answers import CrowdAnswers
from .base import BaseAggregator, clamp_codes
from .exceptions import InputError
from .kernels.mace import mace_pass, mace_pass_serial
from .kernels.mdpd import default_n_chunks

__all__ = ["MACE", "dirichlet_kl"]

#: inputs with at least this many answers use the multi-threaded kernel
PARALLEL_MIN_ANSWERS = 1_000_000
_METHODS = ("vb", "em")
_LOG_FLOOR = -700.0


def _expand(active: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``active`` (R,) reshaped to broadcast against an array whose first axis is the start."""
    return active.reshape((-1,) + (1,) * (like.ndim - 1))


def dirichlet_kl(post: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """``KL(Dir(post) || Dir(prior))`` over the last axis (a Beta is a 2-component Dirichlet).

    Parameters
    ----------
    post, prior : ndarray (..., d)
        Concentration parameters (broadcast against each other).

    Returns
    -------
    ndarray (...)

    Examples
    --------
    >>> import numpy as np
    >>> bool(abs(dirichlet_kl(np.array([2.0, 3.0]), np.array([2.0, 3.0]))) < 1e-12)
    True
    >>> round(float(dirichlet_kl(np.array([3.0, 1.0]), np.array([1.0, 1.0]))), 4)  # Beta(3,1) vs uniform
    0.4319
    """
    post, prior = np.broadcast_arrays(np.asarray(post, float), np.asarray(prior, float))
    tot = post.sum(axis=-1)
    return (gammaln(tot) - gammaln(post).sum(axis=-1) - gammaln(prior.sum(axis=-1))
            + gammaln(prior).sum(axis=-1)
            + ((post - prior) * (digamma(post) - digamma(tot)[..., None])).sum(axis=-1))


class MACE(BaseAggregator):
    """MACE: each worker either knows the answer or spams from a personal strategy.

    Worker ``i`` spams with probability ``1 - theta_i``; when spamming they answer label ``a``
    with probability ``xi_i(a)`` whatever the truth, otherwise they give the true label. The
    true labels are uniform a priori (as in the paper). Fitted from ``n_restarts`` random
    starts, keeping the one with the best objective, either by variational Bayes
    (``method="vb"``, the default of crowd-kit) with a Beta(``alpha``, ``beta``) prior on the
    spamming probability and a symmetric Dirichlet(``strategy_prior``) prior on the
    strategies, or by EM (``method="em"``, the default of the authors' program) with the
    pseudo-count ``smoothing`` added to the expected counts (MAP).

    Every iteration is one pass over the answers in a numba kernel that only looks up
    per-(worker, label) tables, in log space (no underflow with hundreds of answers per task).
    The recorded objective never decreases: the evidence lower bound for ``"vb"``, the
    penalised log-likelihood for ``"em"``.

    Parameters
    ----------
    method : {"vb", "em"}, default="vb"
    n_restarts : int, default=10
        Random starts (the paper's and crowd-kit's default); the best objective wins.
    max_iter : int, default=50
        Maximum iterations per start (the paper's and crowd-kit's default).
    tol : float, default=1e-4
        Stop a start early when its objective per task improves by less than this (the same
        scale as ``DawidSkene``'s default; crowd-kit always runs ``max_iter`` iterations, and
        ``tol=0`` does the same).
    smoothing : float or None, default=None
        EM only: pseudo-count added to every expected count; ``None`` means ``0.01 / K`` as in
        the authors' program and crowd-kit.
    alpha, beta : float, default=0.5
        VB only: Beta prior pseudo-counts of spamming and of knowing (paper: 0.5 and 0.5).
    strategy_prior : float, default=10.0
        VB only: symmetric Dirichlet pseudo-count of the spamming strategies (paper: 10).
    random_state : int, Generator or None
        Seed of the random starts (crowd-kit's default is 0).
    verbose : int, default=0
        If positive, report each start's objective on stderr.

    Attributes
    ----------
    classes_ : pandas.Index
    labels_ : pandas.Series
    proba_ : pandas.DataFrame
        Posterior of the true label of each task under the best start.
    competence_ : pandas.Series
        ``theta_i``, each worker's probability of not spamming (posterior mean for ``"vb"``).
    strategy_ : pandas.DataFrame
        ``xi_i(a)``, workers x labels: what each worker answers when spamming.
    skills_ : pandas.Series
        Same as ``competence_``.
    worker_summary_ : pandas.DataFrame
        Per worker: ``n_answers``, ``competence``, and ``strategy_<label>`` per label.
    objective_ : float
        Best final objective per task over the starts.
    restart_objectives_ : ndarray (n_restarts,)
        Final objective per task of every start.
    log_likelihood_ : ndarray
        Objective per task after each iteration of the best start.
    n_iter_ : int
        Iterations of the best start.
    converged_ : bool
        Whether the best start stopped by ``tol`` before ``max_iter``.

    References
    ----------
    Hovy, D., Berg-Kirkpatrick, T., Vaswani, A. and Hovy, E. (2013). Learning whom to trust
    with MACE. *Proceedings of NAACL-HLT 2013*, 1120-1130.

    Examples
    --------
    >>> from crowdmix.mace import MACE
    >>> from crowdmix.datasets import make_one_coin_crowd
    >>> crowd = make_one_coin_crowd(n_tasks=300, n_workers=10, random_state=0)
    >>> mace = MACE(random_state=0).fit(crowd.answers)
    >>> bool((mace.labels_ == crowd.truth.loc[mace.labels_.index]).mean() > 0.9)
    True
    >>> mace.strategy_.shape
    (10, 2)
    """

    def __init__(
        self,
        method: str = "vb",
        n_restarts: int = 10,
        max_iter: int = 50,
        tol: float = 1e-4,
        smoothing: float | None = None,
        alpha: float = 0.5,
        beta: float = 0.5,
        strategy_prior: float = 10.0,
        random_state: Any = None,
        verbose: int = 0,
    ):
        self.method = method
        self.n_restarts = n_restarts
        self.max_iter = max_iter
        self.tol = tol
        self.smoothing = smoothing
        self.alpha = alpha
        self.beta = beta
        self.strategy_prior = strategy_prior
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self, k: int) -> float:
        if self.method not in _METHODS:
            raise InputError(f"method must be one of {_METHODS}, got {self.method!r}")
        for name in ("n_restarts", "max_iter"):
            value = getattr(self, name)
            if not (isinstance(value, (int, np.integer)) and value >= 1):
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if not self.tol >= 0:
            raise InputError(f"tol must be >= 0, got {self.tol!r}")
        for name in ("alpha", "beta", "strategy_prior"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be > 0, got {getattr(self, name)!r}")
        smoothing = 0.01 / k if self.smoothing is None else self.smoothing
        if not smoothing >= 0:
            raise InputError(f"smoothing must be >= 0, got {self.smoothing!r}")
        return float(smoothing)

    # -------------------------------------------------------------- parameter tables
    @staticmethod
    def _tables(log_trust, log_spam_w, log_strategy):
        """Per-code tables of :func:`crowdmix.kernels.mace.mace_pass`, one row per start.

        ``log_trust``, ``log_spam_w``: (R, m); ``log_strategy``: (R, m, K).
        """
        r, m, k = log_strategy.shape
        log_spam = (log_spam_w[:, :, None] + log_strategy).reshape(r, m * k)
        trust = np.repeat(log_trust, k, axis=1)
        right = np.logaddexp(trust, log_spam)
        return log_spam, right - log_spam, np.exp(trust - right)

    def _update(self, know_counts, spam_counts, m, k, smoothing):
        """New (expected) log-parameters of every start from its counts, and the prior term of
        the objective per start (log-prior for EM, minus the KL divergences for VB)."""
        r = know_counts.shape[0]
        know = know_counts.reshape(r, m, k).sum(axis=2)
        spam_by_label = spam_counts.reshape(r, m, k)
        spam = spam_by_label.sum(axis=2)
        if self.method == "em":
            den = know + spam + 2 * smoothing
            strat = spam_by_label + smoothing
            with np.errstate(divide="ignore", invalid="ignore"):
                log_trust = np.log((know + smoothing) / den)
                log_spam_w = np.log((spam + smoothing) / den)
                log_strategy = np.log(strat / strat.sum(axis=2, keepdims=True))
            bad = ~np.isfinite(log_trust) | ~np.isfinite(log_spam_w)  # no answers, no smoothing
            log_trust[bad] = np.log(0.5)
            log_spam_w[bad] = np.log(0.5)
            log_strategy[~np.isfinite(log_strategy).all(axis=2)] = -np.log(k)
            log_trust = np.maximum(log_trust, _LOG_FLOOR)
            log_spam_w = np.maximum(log_spam_w, _LOG_FLOOR)
            log_strategy = np.maximum(log_strategy, _LOG_FLOOR)
            penalty = smoothing * (log_trust.sum(axis=1) + log_spam_w.sum(axis=1)
                                   + log_strategy.sum(axis=(1, 2)))
            return (log_trust, log_spam_w, log_strategy), penalty, None
        post_theta = np.stack([spam + self.alpha, know + self.beta], axis=2)  # (R, m, 2)
        post_strat = spam_by_label + self.strategy_prior
        tot = digamma(post_theta.sum(axis=2))
        log_spam_w = digamma(post_theta[:, :, 0]) - tot
        log_trust = digamma(post_theta[:, :, 1]) - tot
        log_strategy = digamma(post_strat) - digamma(post_strat.sum(axis=2, keepdims=True))
        kl = dirichlet_kl(post_theta, np.array([self.alpha, self.beta])).sum(axis=1)
        kl += dirichlet_kl(post_strat, np.full(k, float(self.strategy_prior))).sum(axis=1)
        return (log_trust, log_spam_w, log_strategy), -kl, (post_theta, post_strat)

    # -------------------------------------------------------------- fitting
    def fit(self, answers: Any, true_labels: Any = None) -> MACE:
        """Fit MACE from ``n_restarts`` random starts and keep the best.

        All starts advance together, one pass over the answers per iteration; a start stops
        when its objective gain falls below ``tol``.

        Parameters
        ----------
        answers : DataFrame, array or CrowdAnswers
            Crowd answers in any format :func:`crowdmix.as_answers` accepts.
        true_labels : Series or mapping task -> label, optional
            Known labels of some tasks, clamped during fitting.

        Returns
        -------
        self
        """
        ans = self._encode(answers)
        m, k, n = ans.n_workers, ans.n_classes, ans.n_tasks
        smoothing = self._check_params(k)
        clamp = clamp_codes(ans, true_labels)
        codes, label, offsets = ans.value_codes, ans.label, ans.offsets
        log_prior = np.full(k, -np.log(k))
        code_counts = np.bincount(codes, minlength=m * k).astype(np.float64)
        n_starts = self.n_restarts
        resp = np.empty((n_starts, n, k))
        if ans.n_answers >= PARALLEL_MIN_ANSWERS:
            n_chunks = default_n_chunks(n)

            def run_pass(tables, active):
                ll, know = mace_pass(offsets, codes, label, *tables, log_prior, clamp, active,
                                     resp, n_chunks)
                return ll, know, np.where(active[:, None], np.maximum(code_counts - know, 0.0), 0.0)
        else:
            def run_pass(tables, active):
                ll, know = mace_pass_serial(offsets, codes, label, *tables, log_prior, clamp,
                                            active, resp)
                return ll, know, np.where(active[:, None], np.maximum(code_counts - know, 0.0), 0.0)

        rng = np.random.default_rng(self.random_state)
        # random starts as in the authors' program and crowd-kit: U(1, 2.5) weights, normalised
        theta = rng.uniform(1.0, 2.5, size=(n_starts, m, 2))
        theta /= theta.sum(axis=2, keepdims=True)
        xi = rng.uniform(1.0, 2.5, size=(n_starts, m, k))
        xi /= xi.sum(axis=2, keepdims=True)
        active = np.ones(n_starts, dtype=bool)
        _, know_c, spam_c = run_pass(
            self._tables(np.log(theta[:, :, 1]), np.log(theta[:, :, 0]), np.log(xi)), active
        )
        history = np.full((self.max_iter, n_starts), np.nan)
        n_iter = np.zeros(n_starts, dtype=np.int64)
        converged = np.zeros(n_starts, dtype=bool)
        params = post = None
        started = time.perf_counter()
        for it in range(self.max_iter):
            new_params, prior_term, new_post = self._update(know_c, spam_c, m, k, smoothing)
            if params is None:
                params, post = new_params, new_post
            else:  # finished starts keep the parameters that produced their posteriors
                params = tuple(np.where(_expand(active, p), p, old) for p, old in zip(new_params, params, strict=True))
                if post is not None:
                    post = tuple(np.where(_expand(active, p), p, old) for p, old in zip(new_post, post, strict=True))
            ll, know_c, spam_c = run_pass(self._tables(*params), active)
            history[it, active] = (ll[active] + prior_term[active]) / max(n, 1)
            n_iter[active] = it + 1
            if it > 0:
                done = active & (np.abs(history[it] - history[it - 1]) < self.tol)
                converged |= done
                active &= ~done
            if self.verbose:
                print(f"MACE: iteration {it + 1}, {int(active.sum())} start(s) running, best "
                      f"objective per task {np.nanmax(history[it]):.6f} "
                      f"({time.perf_counter() - started:.1f} s)", file=sys.stderr)
            if not active.any():
                break
        final = history[n_iter - 1, np.arange(n_starts)]
        best = int(np.argmax(final))
        self.restart_objectives_ = final
        self._finish(
            ans, history[: n_iter[best], best], bool(converged[best]), resp[best],
            tuple(p[best] for p in params), None if post is None else tuple(p[best] for p in post),
        )
        return self

    def _finish(self, ans: CrowdAnswers, history, converged, resp, params, post) -> None:
        self._store(ans, resp, np.argmax(resp, axis=1))
        self.workers_ = pd.Index(ans.workers, name="worker")
        if post is None:  # EM: the MAP parameters themselves
            theta = np.exp(params[0])
            xi = np.exp(params[2])
        else:  # VB: posterior means
            post_theta, post_strat = post
            theta = post_theta[:, 1] / post_theta.sum(axis=1)
            xi = post_strat / post_strat.sum(axis=1, keepdims=True)
        self.competence_ = pd.Series(theta, index=self.workers_, name="competence")
        self.skills_ = self.competence_.rename("skill")
        self.strategy_ = pd.DataFrame(xi, index=self.workers_, columns=self.classes_)
        summary = {"n_answers": ans.answers_per_worker, "competence": theta}
        for c, name in enumerate(ans.classes):
            summary[f"strategy_{name}"] = xi[:, c]
        self.worker_summary_ = pd.DataFrame(summary, index=self.workers_)
        self.log_likelihood_ = np.asarray(history)
        self.objective_ = float(history[-1])
        self.n_iter_ = len(history)
        self.converged_ = bool(converged)
