"""GLAD: worker abilities and task difficulties (Whitehill et al. 2009)."""

from __future__ import annotations

import sys
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from .answers import CrowdAnswers
from .base import BaseAggregator, clamp_codes
from .exceptions import ConvergenceWarning, InputError
from .kernels.glad import e_step, e_step_serial, q_and_grad, q_and_grad_serial
from .kernels.mdpd import default_n_chunks

__all__ = ["GLAD"]

#: Dirichlet pseudo-count on the class prior when it is learned (``class_prior="learn"``)
PRIOR_SMOOTHING = 0.1
#: inputs with at least this many answers use the multi-threaded kernels
PARALLEL_MIN_ANSWERS = 1_000_000


def _check_gaussian(value: Any, name: str) -> tuple[float, float]:
    try:
        mean, std = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a pair (mean, std), got {value!r}") from None
    if not np.isfinite(mean) or not std > 0:
        raise InputError(f"{name} needs a finite mean and a positive std (inf: no prior), got {value!r}")
    return mean, std


class GLAD(BaseAggregator):
    """GLAD: each worker has an ability, each task a difficulty.

    Worker ``i`` has ability ``alpha_i`` (any real number: negative for adversarial workers)
    and task ``s`` an inverse difficulty ``beta_s = exp(b_s) > 0``. Given the true class, the
    worker answers it with probability ``sigma(alpha_i beta_s)`` and each other class with
    probability ``(1 - sigma(alpha_i beta_s)) / (K - 1)`` (the paper's binary model; the
    multi-class form with uniform errors is crowd-kit's). Gaussian priors
    ``alpha_i ~ N(mu_a, s_a^2)`` and ``b_s ~ N(mu_b, s_b^2)`` regularise the fit.

    Fitted by (generalised) EM: the E-step computes the class posteriors in log space (numba,
    stable log-sigmoid); the M-step maximises the expected complete-data log-likelihood plus
    the log-priors over all ``alpha`` and ``b`` at once with L-BFGS and the analytic gradient
    (numba). Each M-step increases its objective, so the recorded penalised log-likelihood
    never decreases.

    Parameters
    ----------
    max_iter : int, default=100
        Maximum number of EM iterations.
    tol : float, default=1e-5
        Stop when the penalised log-likelihood per task improves by less than this.
    m_step_max_iter : int, default=25
        Maximum L-BFGS iterations per M-step (crowd-kit: 25 conjugate-gradient iterations).
    alpha_prior : (float, float), default=(1.0, 1.0)
        Mean and standard deviation of the Gaussian prior on the abilities ``alpha``; an
        infinite standard deviation removes the prior.
    log_beta_prior : (float, float), default=(1.0, 1.0)
        Mean and standard deviation of the Gaussian prior on ``b = log beta``. The defaults of
        both priors, and the start at the prior means, are those of crowd-kit's GLAD.
    class_prior : {"uniform", "learn"} or array-like (K,), default="uniform"
        Class probabilities: fixed uniform (as in the paper and crowd-kit), learned by EM (MAP
        with a Dirichlet pseudo-count of 0.1), or given (in the order of ``classes_``).
    verbose : int, default=0
        If positive, print the objective of every iteration to stderr.

    Attributes
    ----------
    classes_ : pandas.Index
    labels_ : pandas.Series
        Most probable class per task (ties go to the first class).
    proba_ : pandas.DataFrame
        Posterior class probabilities, tasks x classes.
    alphas_ : pandas.Series
        Ability ``alpha_i`` per worker.
    betas_ : pandas.Series
        Inverse difficulty ``beta_s = exp(b_s)`` per task (large: easy).
    skills_ : pandas.Series
        Each worker's expected probability of answering correctly over the tasks they did,
        ``mean_s sigma(alpha_i beta_s)``.
    worker_summary_ : pandas.DataFrame
        Per worker: ``n_answers``, ``alpha`` and ``accuracy`` (= ``skills_``).
    class_prior_ : pandas.Series
    log_likelihood_ : ndarray
        Per-task penalised log-likelihood (log-likelihood plus the log-priors, up to a
        constant) after each E-step; never decreases.
    n_iter_ : int
    converged_ : bool

    References
    ----------
    Whitehill, J., Ruvolo, P., Wu, T., Bergsma, J. and Movellan, J. (2009). Whose vote should
    count more: optimal integration of labels from labelers of unknown expertise. *NeurIPS 22*.

    Examples
    --------
    >>> from crowdmix.glad import GLAD
    >>> from crowdmix.datasets import make_one_coin_crowd
    >>> crowd = make_one_coin_crowd(n_tasks=300, n_workers=10, random_state=0)
    >>> glad = GLAD().fit(crowd.answers)
    >>> bool((glad.labels_ == crowd.truth.loc[glad.labels_.index]).mean() > 0.9)
    True
    >>> glad.alphas_.shape, glad.betas_.shape
    ((10,), (300,))
    """

    def __init__(
        self,
        max_iter: int = 100,
        tol: float = 1e-5,
        m_step_max_iter: int = 25,
        alpha_prior: tuple[float, float] = (1.0, 1.0),
        log_beta_prior: tuple[float, float] = (1.0, 1.0),
        class_prior: Any = "uniform",
        verbose: int = 0,
    ):
        self.max_iter = max_iter
        self.tol = tol
        self.m_step_max_iter = m_step_max_iter
        self.alpha_prior = alpha_prior
        self.log_beta_prior = log_beta_prior
        self.class_prior = class_prior
        self.verbose = verbose

    def _check_params(self, k: int) -> tuple[tuple[float, float], tuple[float, float], np.ndarray | None]:
        for name in ("max_iter", "m_step_max_iter"):
            value = getattr(self, name)
            if not (isinstance(value, (int, np.integer)) and value >= 1):
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if not self.tol >= 0:
            raise InputError(f"tol must be >= 0, got {self.tol!r}")
        a_prior = _check_gaussian(self.alpha_prior, "alpha_prior")
        b_prior = _check_gaussian(self.log_beta_prior, "log_beta_prior")
        cp = self.class_prior
        if isinstance(cp, str):
            if cp not in ("uniform", "learn"):
                raise InputError(f"class_prior must be 'uniform', 'learn' or probabilities, got {cp!r}")
            fixed = np.full(k, 1.0 / k) if cp == "uniform" else None
        else:
            fixed = np.asarray(cp, dtype=float)
            if fixed.shape != (k,) or not np.all(fixed > 0) or not np.isclose(fixed.sum(), 1.0):
                raise InputError(
                    f"class_prior must hold {k} positive probabilities summing to one, got {cp!r}"
                )
        return a_prior, b_prior, fixed

    def fit(self, answers: Any, true_labels: Any = None) -> GLAD:
        """Fit abilities, difficulties and class posteriors by EM.

        Parameters
        ----------
        answers : DataFrame, array or CrowdAnswers
            Crowd answers in any format :func:`crowdmix.as_answers` accepts.
        true_labels : Series or mapping task -> label, optional
            Known labels of some tasks, clamped during EM.

        Returns
        -------
        self
        """
        ans = self._encode(answers)
        k, m, n = ans.n_classes, ans.n_workers, ans.n_tasks
        (mu_a, sd_a), (mu_b, sd_b), fixed_prior = self._check_params(k)
        clamp = clamp_codes(ans, true_labels)
        offsets, worker, label = ans.offsets, ans.worker, ans.label
        n_chunks = default_n_chunks(n)
        if ans.n_answers >= PARALLEL_MIN_ANSWERS:
            def e_pass(alpha, b, log_prior):
                return e_step(offsets, worker, label, alpha, b, log_prior, clamp, n_chunks)

            def q_pass(resp, alpha, b):
                return q_and_grad(offsets, worker, label, resp, alpha, b, m, n_chunks)
        else:
            def e_pass(alpha, b, log_prior):
                return e_step_serial(offsets, worker, label, alpha, b, log_prior, clamp)

            def q_pass(resp, alpha, b):
                return q_and_grad_serial(offsets, worker, label, resp, alpha, b, m)
        ia, ib = 1.0 / sd_a**2, 1.0 / sd_b**2  # prior precisions (0 for an infinite std)

        def log_prior_params(alpha: np.ndarray, b: np.ndarray) -> float:
            return -0.5 * (ia * np.sum((alpha - mu_a) ** 2) + ib * np.sum((b - mu_b) ** 2))

        def neg_objective(x: np.ndarray, resp: np.ndarray) -> tuple[float, np.ndarray]:
            alpha, b = x[:m], x[m:]
            q, g_a, g_b = q_pass(resp, alpha, b)
            q += log_prior_params(alpha, b)
            grad = np.concatenate([g_a - ia * (alpha - mu_a), g_b - ib * (b - mu_b)])
            return -q, -grad

        alpha = np.full(m, mu_a)
        b = np.full(n, mu_b)
        prior = np.full(k, 1.0 / k) if fixed_prior is None else fixed_prior
        history: list[float] = []
        converged = False
        started = time.perf_counter()
        # L-BFGS works on long vectors with tiny BLAS calls: threaded BLAS only adds contention
        with threadpool_limits(limits=1, user_api="blas"):
            resp, alpha, b, prior, converged = self._em(
                e_pass, neg_objective, log_prior_params, alpha, b, prior, fixed_prior, history, started
            )
        if not converged:
            warnings.warn(
                f"GLAD did not converge in max_iter={self.max_iter} iterations; raise max_iter or tol",
                ConvergenceWarning, stacklevel=2,
            )
        self._finish(ans, resp, alpha, b, prior, np.asarray(history), converged)
        return self

    def _em(self, e_pass, neg_objective, log_prior_params, alpha, b, prior, fixed_prior, history, started):
        n = len(b)
        m = len(alpha)
        converged = False
        for it in range(self.max_iter):
            resp, ll = e_pass(alpha, b, np.log(prior))
            objective = ll + log_prior_params(alpha, b)
            if fixed_prior is None:
                objective += PRIOR_SMOOTHING * np.log(prior).sum()
            history.append(objective / max(n, 1))
            if self.verbose:
                print(f"GLAD: iteration {it + 1}, objective per task {history[-1]:.6f} "
                      f"({time.perf_counter() - started:.1f} s)", file=sys.stderr)
            if it > 0 and abs(history[-1] - history[-2]) < self.tol:
                converged = True
                break
            if it == self.max_iter - 1:
                break
            x0 = np.concatenate([alpha, b])
            f0, _ = neg_objective(x0, resp)
            res = minimize(neg_objective, x0, args=(resp,), jac=True, method="L-BFGS-B",
                           options={"maxiter": self.m_step_max_iter})
            if np.all(np.isfinite(res.x)) and res.fun <= f0:  # a GEM step must not lose ground
                alpha, b = res.x[:m].copy(), res.x[m:].copy()
            if fixed_prior is None:
                sums = resp.sum(axis=0) + PRIOR_SMOOTHING
                prior = sums / sums.sum()
        return resp, alpha, b, prior, converged

    def _finish(self, ans: CrowdAnswers, resp, alpha, b, prior, history, converged) -> None:
        self._store(ans, resp, np.argmax(resp, axis=1))
        self.workers_ = pd.Index(ans.workers, name="worker")
        self.alphas_ = pd.Series(alpha, index=self.workers_, name="alpha")
        self.betas_ = pd.Series(np.exp(b), index=pd.Index(ans.tasks, name="task"), name="beta")
        a = alpha[ans.worker] * np.exp(b[ans.task])
        p_right = np.exp(-np.logaddexp(0.0, -a))
        with np.errstate(invalid="ignore"):
            acc = np.bincount(ans.worker, weights=p_right, minlength=ans.n_workers) / ans.answers_per_worker
        self.skills_ = pd.Series(acc, index=self.workers_, name="skill")
        self.worker_summary_ = pd.DataFrame(
            {"n_answers": ans.answers_per_worker, "alpha": alpha, "accuracy": acc}, index=self.workers_
        )
        self.class_prior_ = pd.Series(prior, index=self.classes_, name="prior")
        self.log_likelihood_ = history
        self.n_iter_ = len(history)
        self.converged_ = converged
