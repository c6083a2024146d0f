"""Dawid-Skene EM with full, class-conditional or one-coin confusion matrices."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from .answers import CrowdAnswers, encode_for_workers
from .base import BaseAggregator, clamp_codes, labels_series, proba_frame
from .confusion import check_confusion, confusion_frame, confusion_m_step, worker_summary
from .em import EMFit, dirichlet_penalty, normalize_weights, posterior, progress_printer, run_em
from .exceptions import ConvergenceWarning, InputError

__all__ = ["DawidSkene", "majority_posteriors", "align_to_majority"]

_INIT_NAMES = ("majority", "random", "stagewise", "spectral")


def majority_posteriors(answers: CrowdAnswers) -> np.ndarray:
    """Soft majority vote: ``q_s(k)`` proportional to the votes for k (uniform without votes)."""
    votes = answers.vote_counts
    totals = votes.sum(axis=1, keepdims=True)
    out = np.full_like(votes, 1.0 / answers.n_classes)
    has = totals[:, 0] > 0
    out[has] = votes[has] / totals[has]
    return out


def align_to_majority(resp: np.ndarray, answers: CrowdAnswers) -> np.ndarray:
    """Permutation ``perm`` so that component ``perm[k]`` is class ``k``, by matching the
    posteriors to the soft majority vote (Hungarian algorithm; no ground truth involved)."""
    agreement = resp.T @ majority_posteriors(answers)  # (component, class)
    rows, cols = linear_sum_assignment(-agreement)
    perm = np.empty(len(cols), dtype=np.int64)
    perm[cols] = rows
    return perm


class DawidSkene(BaseAggregator):
    """Dawid-Skene EM: each worker has a confusion matrix; true labels are latent classes.

    The model is a mixture of discrete product distributions with one component per class
    (ALGORITHMS.md §1): ``P(answers of task s) = sum_k w_k prod_i C_i(x_si | k)``, fitted by
    EM in log space with numba kernels, missing answers marginalised.

    Parameters
    ----------
    confusion : {"full", "diagonal", "one_coin"}, default="full"
        Worker model: a free confusion matrix (Dawid & Skene), one accuracy per true class with
        errors spread evenly ("diagonal", class-conditional), or one accuracy per worker
        ("one_coin").
    init : {"majority", "random", "stagewise", "spectral"} or array-like (n_tasks, n_classes), default="majority"
        Initial posteriors: the soft majority vote (deterministic; components are classes by
        construction), random Dirichlet draws (``n_init`` restarts, components then matched to
        classes by the majority vote, never by truth), the expert-only posteriors of stagewise
        EM (:func:`crowdmix.stagewise.stagewise_crowd_posteriors`; matched to classes by the
        experts' majority vote), the spectral method of moments of Zhang et al. (2014), which
        with EM is their "Opt-D&S" (:func:`crowdmix.spectral.spectral_posteriors`; deterministic
        given ``random_state``; falls back to the majority vote with a
        ``SpectralFallbackWarning`` when a moment matrix is singular), or given posteriors (an array in the
        order of the encoded tasks, or a DataFrame indexed by task with one column per class).
    n_init : int, default=1
        Number of starts; the fit with the best penalised likelihood is kept. Only random
        starts differ from each other.
    max_iter : int, default=100
        Maximum number of EM iterations.
    tol : float, default=1e-4
        Stop when the per-task penalised log-likelihood improves by less than this (the same
        scale as crowd-kit's default of 1e-5 per answer; scikit-learn's mixtures use 1e-3 per
        sample). Lower it to run EM to full convergence; on the five public benchmarks the
        default is as accurate or more (see the docs' measurements).
    smoothing : float, default=0.1
        Dirichlet pseudo-count added to every confusion cell and class weight (MAP EM); keeps
        probabilities away from zero for workers with few answers.
    random_state : int, Generator or None
        Seed for random starts.
    verbose : int, default=0
        If positive, print the log-likelihood of every iteration to stderr.
    experts : None, int, float, list of worker IDs or "auto", default=None
        Learn from the experts (Zhao & Zucker 2017): the E-step uses only the expert workers,
        the M-step still estimates every worker's confusion matrix, and tasks that no expert
        answered are labelled by a final E-step over all workers (never dropped). ``None``:
        every worker is an expert (plain EM). An int N: the top N workers by pairwise mutual
        information (:func:`crowdmix.rank_workers`); a float in (0, 1]: that share of the
        workers; a list: these workers; ``"auto"``: N chosen without ground truth by
        :func:`crowdmix.experts.select_n_experts` (see docs/worker-ranking.md).

    Attributes
    ----------
    classes_ : pandas.Index
    labels_ : pandas.Series
        Most probable class per task (ties go to the first class).
    proba_ : pandas.DataFrame
        Posterior class probabilities, tasks x classes.
    class_prior_ : pandas.Series
        Estimated class proportions ``w_k``.
    confusion_ : pandas.DataFrame
        Confusion matrices: rows (worker, answer), columns true class; each column of a worker's
        block sums to one.
    confusion_array_ : ndarray (n_workers, K, K)
        The same as an array: ``[i, a, k] = P(worker i answers a | true class k)``.
    skills_ : pandas.Series
        Each worker's probability of answering correctly, ``sum_k w_k C_i(k|k)``.
    worker_summary_ : pandas.DataFrame
        Per worker: ``n_answers``, ``accuracy`` (= ``skills_``), ``balanced_accuracy`` (mean of the
        diagonal) and ``recall_<class>`` per class.
    log_likelihood_ : ndarray
        Per-task penalised log-likelihood at each iteration of the kept run (never decreases).
    n_iter_ : int
    converged_ : bool
    experts_ : list or None
        Worker IDs used in the E-step, in rank order (``None`` when ``experts=None``).
    experts_info_ : dict or None
        Why these experts: the rule, the chosen N, the ranking (scores) and, for ``"auto"``,
        the criterion values over the candidate N.

    References
    ----------
    Dawid, A. P. and Skene, A. M. (1979). Maximum likelihood estimation of observer error-rates
    using the EM algorithm. *Applied Statistics* 28(1), 20-28.

    Examples
    --------
    >>> from crowdmix import DawidSkene
    >>> from crowdmix.datasets import make_crowd
    >>> crowd = make_crowd(n_tasks=200, n_workers=15, n_classes=3, random_state=0)
    >>> ds = DawidSkene().fit(crowd.answers)
    >>> labels = ds.labels_                      # Series indexed by task
    >>> bool((labels == crowd.truth.loc[labels.index]).mean() > 0.8)
    True
    """

    def __init__(
        self,
        confusion: str = "full",
        init: Any = "majority",
        n_init: int = 1,
        max_iter: int = 100,
        tol: float = 1e-4,
        smoothing: float = 0.1,
        random_state: Any = None,
        verbose: int = 0,
        experts: Any = None,
    ):
        self.confusion = confusion
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.smoothing = smoothing
        self.random_state = random_state
        self.verbose = verbose
        self.experts = experts

    # ------------------------------------------------------------------ helpers
    def _check_params(self) -> None:
        check_confusion(self.confusion)
        if not (isinstance(self.n_init, (int, np.integer)) and self.n_init >= 1):
            raise InputError(f"n_init must be a positive integer, got {self.n_init!r}")
        if not (isinstance(self.max_iter, (int, np.integer)) and self.max_iter >= 1):
            raise InputError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        if not self.tol >= 0:
            raise InputError(f"tol must be >= 0, got {self.tol!r}")
        if not self.smoothing >= 0:
            raise InputError(f"smoothing must be >= 0, got {self.smoothing!r}")

    def _m_step(self, ans: CrowdAnswers):
        m, k, alpha, confusion = ans.n_workers, ans.n_classes, self.smoothing, self.confusion

        def m_step(counts: np.ndarray, resp_sum: np.ndarray):
            probs = confusion_m_step(counts, m, k, alpha, confusion)
            with np.errstate(divide="ignore"):
                log_params = np.maximum(np.log(probs.reshape(m * k, k)), -700.0)
            return log_params, normalize_weights(resp_sum, alpha)

        return m_step

    def _penalty(self):
        alpha = self.smoothing
        return lambda lp, lw: dirichlet_penalty(lp, lw, alpha)

    def _initial_posteriors(self, ans: CrowdAnswers, rng: np.random.Generator, run: int):
        init = self.init
        if isinstance(init, str):
            if init == "majority":
                return majority_posteriors(ans), False
            if init == "random":
                return rng.dirichlet(np.ones(ans.n_classes), size=ans.n_tasks), True
            if init == "stagewise":  # Zhao & Zucker's stagewise EM, experts only (no refinement)
                from .stagewise import stagewise_crowd_posteriors

                return stagewise_crowd_posteriors(ans, self.confusion, self.smoothing), False
            if init == "spectral":  # Zhang, Chen, Zhou & Jordan (2014): Opt-D&S
                from .spectral import spectral_posteriors

                return spectral_posteriors(ans, random_state=rng), False
            raise InputError(
                f"init must be one of {_INIT_NAMES} or an array of posteriors, got {init!r}"
            )
        if isinstance(init, pd.DataFrame):
            missing = ans.tasks.difference(init.index)
            if len(missing):
                raise InputError(f"init has no row for {len(missing)} task(s), e.g. {list(missing[:5])}")
            cols = ans.classes.difference(init.columns)
            if len(cols):
                raise InputError(f"init has no column for class(es) {list(cols)}")
            arr = init.loc[ans.tasks, ans.classes].to_numpy(dtype=float)
        else:
            arr = np.asarray(init, dtype=float)
        if arr.shape != (ans.n_tasks, ans.n_classes):
            raise InputError(
                f"init posteriors must have shape (n_tasks, n_classes) = "
                f"{(ans.n_tasks, ans.n_classes)}, got {arr.shape}"
            )
        if not np.all(np.isfinite(arr)) or (arr < 0).any():
            raise InputError("init posteriors must be finite and non-negative")
        sums = arr.sum(axis=1, keepdims=True)
        return np.where(sums > 0, arr / np.where(sums > 0, sums, 1), 1.0 / ans.n_classes), False

    def _fit_em(self, ans: CrowdAnswers, clamp: np.ndarray, **em_kwargs: Any) -> tuple[EMFit, bool]:
        """Run EM from every start and keep the best; returns the fit and whether it needs aligning."""
        rng = np.random.default_rng(self.random_state)
        best, best_needs_align = None, False
        n_runs = self.n_init if isinstance(self.init, str) and self.init == "random" else 1
        codes = ans.value_codes
        n_codes = ans.n_workers * ans.n_classes
        for run in range(n_runs):
            resp0, needs_align = self._initial_posteriors(ans, rng, run)
            fit = run_em(
                ans.offsets, codes, n_codes, resp0, self._m_step(ans), self._penalty(),
                max_iter=self.max_iter, tol=self.tol, clamp=clamp,
                callback=self._progress(run) if self.verbose else None, **em_kwargs,
            )
            if best is None or fit.objective > best.objective:
                best, best_needs_align = fit, needs_align
        return best, best_needs_align

    def _progress(self, run: int):
        return progress_printer(type(self).__name__, run, "task")

    # ------------------------------------------------------------------ API
    def fit(self, answers: Any, true_labels: Any = None) -> DawidSkene:
        """Fit the model by EM.

        Parameters
        ----------
        answers : DataFrame, array or CrowdAnswers
            Crowd answers in any format :func:`crowdmix.as_answers` accepts.
        true_labels : Series or mapping task -> label, optional
            Known labels of some tasks, clamped during EM (their posterior stays one-hot).

        Returns
        -------
        self
        """
        self._check_params()
        ans = self._encode(answers)
        clamp = clamp_codes(ans, true_labels)
        if self.experts is None:
            fit, needs_align = self._fit_em(ans, clamp)
            self.experts_, self.experts_info_ = None, None
        else:
            from .experts import complete_posteriors, expert_mask, resolve_experts

            codes, self.experts_info_ = resolve_experts(ans, self.experts, estimator=self)
            self.experts_ = list(ans.workers.take(codes))
            fit, needs_align = self._fit_em(ans, clamp, e_step_rows=expert_mask(ans, codes))
            complete_posteriors(ans, fit, codes, clamp)
        self._finish(ans, fit, needs_align and not (clamp >= 0).any())
        return self

    def _finish(self, ans: CrowdAnswers, fit: EMFit, align: bool) -> None:
        m, k = ans.n_workers, ans.n_classes
        log_params, log_weights, resp = fit.log_params, fit.log_weights, fit.resp
        if align:
            perm = align_to_majority(resp, ans)
            resp = resp[:, perm]
            log_weights = log_weights[perm]
            log_params = log_params[:, perm]
        if not fit.converged:
            warnings.warn(
                f"{type(self).__name__} did not converge in max_iter={self.max_iter} iterations "
                f"(last gain {np.diff(fit.history)[-1] if fit.n_iter > 1 else float('nan'):.3g} > "
                f"tol={self.tol}); raise max_iter or tol",
                ConvergenceWarning,
                stacklevel=3,
            )
        self._log_params = log_params
        self._log_weights = log_weights
        self._store(ans, resp, np.argmax(resp, axis=1))
        prior = np.exp(log_weights)
        conf = np.exp(log_params).reshape(m, k, k)
        self.class_prior_ = pd.Series(prior, index=self.classes_, name="prior")
        self.confusion_array_ = conf
        self.confusion_ = confusion_frame(conf, ans.workers, ans.classes)
        self.workers_ = pd.Index(ans.workers, name="worker")
        self.worker_summary_ = worker_summary(
            conf, prior, ans.answers_per_worker, self.workers_, ans.classes
        )
        self.skills_ = self.worker_summary_["accuracy"].rename("skill")
        self.log_likelihood_ = fit.history
        self.n_iter_ = fit.n_iter
        self.converged_ = fit.converged

    def _posterior_new(self, answers: Any) -> tuple[CrowdAnswers, np.ndarray]:
        self._check_fitted()
        new = encode_for_workers(answers, self.workers_, self.classes_)
        if getattr(self, "experts_", None) is not None:  # as in fit: expert-only E-step where possible
            from .experts import expert_posterior

            codes = self.workers_.get_indexer(pd.Index(self.experts_))
            return new, expert_posterior(new, self._log_params, self._log_weights, codes)
        resp, _ = posterior(new.offsets, new.value_codes, self._log_params, self._log_weights)
        return new, resp

    def predict_proba(self, answers: Any) -> pd.DataFrame:
        """Class probabilities of new tasks from answers of workers seen during ``fit``."""
        new, resp = self._posterior_new(answers)
        return proba_frame(new.tasks, new.classes, resp)

    def predict(self, answers: Any) -> pd.Series:
        """Most probable class of new tasks from answers of workers seen during ``fit``."""
        new, resp = self._posterior_new(answers)
        return labels_series(new.tasks, new.classes, np.argmax(resp, axis=1))
