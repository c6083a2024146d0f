"""Clustering of discretely valued data with a mixture of discrete product distributions.

:class:`DiscreteMixture` is latent class analysis (a mixture of independent categorical
distributions, ALGORITHMS.md §1 and §4) as a scikit-learn clusterer. It runs the same EM as the
crowd estimators (:func:`crowdmix.em.run_em` on the numba kernels of
:mod:`crowdmix.kernels.mdpd`), so missing values are marginalised and hundreds of features per
sample never underflow.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.exceptions import NotFittedError

from .categorical import CategoricalEncoder, EncodedMatrix
from .em import (
    EMFit,
    FeatureLayout,
    dirichlet_penalty,
    normalize_columns,
    normalize_weights,
    posterior,
    progress_printer,
    run_em,
)
from .exceptions import ConvergenceWarning, InputError

__all__ = [
    "DiscreteMixture",
    "DiscreteMixtureData",
    "EmptyRowsWarning",
    "kmodes_posteriors",
    "make_discrete_mixture",
    "random_log_params",
]

_INITS = ("random", "kmodes", "stagewise")


class EmptyRowsWarning(UserWarning):
    """Some samples have no observed value: their posterior is the mixture weights."""


def random_log_params(
    layout: FeatureLayout, n_components: int, rng: np.random.Generator
) -> np.ndarray:
    """Random parameters: every column ``C_i(.|k)`` drawn from a flat Dirichlet (log, n_codes x c).

    This is the random start of poLCA and of the authors' code: each component is a random
    product distribution, so the first E-step is a random but data-dependent partition.
    """
    draws = rng.standard_exponential((layout.n_codes, n_components))  # Dirichlet(1) via gammas
    totals = np.add.reduceat(draws, layout.start[:-1], axis=0)
    probs = draws / np.repeat(totals, layout.sizes, axis=0)
    return np.log(np.maximum(probs, 1e-300))


def _mismatch(dense: np.ndarray, observed: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Fraction of features, among those observed in both, on which each sample differs from ``row``."""
    both = observed & (row >= 0)[None, :]
    differ = (dense != row[None, :]) & both
    n_both = both.sum(axis=1)
    return np.where(n_both > 0, differ.sum(axis=1) / np.maximum(n_both, 1), 1.0)


def kmodes_posteriors(dense: np.ndarray, n_components: int, rng: np.random.Generator) -> np.ndarray:
    """Hard posteriors from k-modes-style seeding (k-means++ on the Hamming distance).

    The first seed is a random sample; each next seed is drawn with probability proportional to
    the squared mismatch fraction to the closest seed so far (Arthur & Vassilvitskii, 2007, with
    the matching dissimilarity of Huang, 1998). Every sample is then assigned to its closest seed.

    Parameters
    ----------
    dense : int array (n_samples, n_features)
        Category index per cell, ``-1`` where missing.
    n_components : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray (n_samples, n_components)
        One-hot posteriors.
    """
    n = dense.shape[0]
    observed = dense >= 0
    seeds = [int(rng.integers(n))]
    dist = np.empty((n, n_components))
    dist[:, 0] = _mismatch(dense, observed, dense[seeds[0]])
    closest = dist[:, 0].copy()
    for k in range(1, n_components):
        p = closest**2
        total = p.sum()
        if total > 0:
            nxt = int(rng.choice(n, p=p / total))
        else:  # every sample equals a seed: pick any other sample
            nxt = int(rng.choice(np.setdiff1d(np.arange(n), seeds))) if n > len(seeds) else 0
        seeds.append(nxt)
        dist[:, k] = _mismatch(dense, observed, dense[nxt])
        np.minimum(closest, dist[:, k], out=closest)
    # ties broken at random so that identical seeds still get members
    noisy = dist + rng.uniform(0.0, 1e-9, size=dist.shape)
    labels = np.argmin(noisy, axis=1)
    labels[seeds] = np.arange(n_components)  # each seed owns its component
    resp = np.zeros((n, n_components))
    resp[np.arange(n), labels] = 1.0
    return resp


class _PlainCoding:
    """EM on the encoded data as they are: every observed value has a code."""

    def __init__(self, data: EncodedMatrix, feat_idx: np.ndarray, smoothing: float):
        self.offsets, self.codes, self.n_codes = data.offsets, data.codes, data.n_codes
        self.layout = data.layout
        self.alpha = smoothing
        all_features = len(feat_idx) == data.n_features
        self.e_rows = None if all_features else data.layout.code_mask(feat_idx)

    def reset(self) -> None:
        pass

    def m_step(self, counts: np.ndarray, resp_sum: np.ndarray):
        return normalize_columns(counts, self.layout, self.alpha), normalize_weights(resp_sum, self.alpha)

    def penalty(self, log_params: np.ndarray, log_weights: np.ndarray) -> float:
        return dirichlet_penalty(log_params, log_weights, self.alpha)

    def to_run(self, log_params: np.ndarray, log_weights: np.ndarray):
        return log_params, log_weights

    def to_full(self, fit: EMFit) -> EMFit:
        return fit


class _ReferenceCoding(_PlainCoding):
    """EM in which each feature's most frequent value has no code (sparse data, e.g. spikes).

    ``log P(x_s | k) = sum_i log C_i(ref_i | k) + sum_{i: x_si != ref_i} [log C_i(x_si | k) -
    log C_i(ref_i | k)]``: the first sum over all (selected) features goes into the mixture
    weights, so only non-reference values need a code, plus one code per missing value that
    removes that feature's reference term (``-log C_i(ref_i | k)``, a row after the value rows).
    It is the same likelihood and the same posteriors, computed by the same kernels and
    :func:`crowdmix.em.run_em`, on far fewer codes when most values equal the reference (binary
    spike data: 8% ones). The M-step recovers the reference counts as ``sum_s q_s(k)`` minus the
    other values' and the missing values' counts, then applies the shared
    :func:`crowdmix.em.normalize_columns`.
    """

    def __init__(self, data: EncodedMatrix, feat_idx: np.ndarray, smoothing: float, ref: np.ndarray):
        layout = data.layout
        self.layout, self.alpha = layout, smoothing
        m, n_codes = layout.n_features, layout.n_codes
        self.ref_rows = layout.start[:-1] + ref
        dense = data.dense
        missing = dense < 0
        keep = ~missing & (dense != ref[None, :])
        cell = np.where(keep, dense + layout.start[:-1][None, :], n_codes + np.arange(m)[None, :])
        cell_used = keep | missing
        self.offsets = np.zeros(data.n_samples + 1, dtype=np.int64)
        np.cumsum(cell_used.sum(axis=1), out=self.offsets[1:])
        self.codes = cell[cell_used].astype(np.int64)
        self.n_codes = n_codes + m
        selected = np.zeros(m, dtype=bool)
        selected[feat_idx] = True
        self.selected = selected
        self.value_rows = layout.code_mask(feat_idx)
        self.e_rows = None if selected.all() else np.concatenate([self.value_rows, selected])
        self.full: tuple[np.ndarray, np.ndarray] | None = None

    def reset(self) -> None:
        self.full = None

    def to_run(self, log_params: np.ndarray, log_weights: np.ndarray):
        """Full parameters (n_codes, c) -> parameters of the reference coding."""
        self.full = (log_params, log_weights)
        ref_lp = log_params[self.ref_rows]  # (m, c)
        sizes = self.layout.sizes
        run_lp = np.empty((self.n_codes, log_params.shape[1]))
        run_lp[: self.layout.n_codes] = log_params - np.repeat(ref_lp, sizes, axis=0)
        run_lp[self.layout.n_codes:] = -ref_lp
        run_lw = log_weights + ref_lp[self.selected].sum(axis=0)
        return run_lp, run_lw

    def m_step(self, counts: np.ndarray, resp_sum: np.ndarray):
        n_codes = self.layout.n_codes
        full = counts[:n_codes].copy()
        full[self.ref_rows] = 0.0
        others = np.add.reduceat(full, self.layout.start[:-1], axis=0)  # (m, c)
        full[self.ref_rows] = np.maximum(resp_sum[None, :] - counts[n_codes:] - others, 0.0)
        log_params = normalize_columns(full, self.layout, self.alpha)
        log_weights = normalize_weights(resp_sum, self.alpha)
        return self.to_run(log_params, log_weights)

    def penalty(self, log_params: np.ndarray, log_weights: np.ndarray) -> float:
        # the penalty of the full parameters that produced this E-step (kept by to_run)
        assert self.full is not None
        lp, lw = self.full
        rows = None if self.selected.all() else self.value_rows
        return dirichlet_penalty(lp, lw, self.alpha, rows=rows)

    def to_full(self, fit: EMFit) -> EMFit:
        assert self.full is not None
        out = EMFit(self.full[0], self.full[1], fit.resp, fit.history, fit.n_iter, fit.converged)
        return out


def _choose_coding(data: EncodedMatrix, feat_idx: np.ndarray, smoothing: float) -> _PlainCoding:
    """Reference coding when it needs clearly fewer codes than the plain one, else plain."""
    dense, layout = data.dense, data.layout
    # most frequent value of every feature (vectorised count over the flat codes)
    counts = np.bincount(data.codes, minlength=layout.n_codes)
    ref = np.array([int(np.argmax(counts[layout.start[i]:layout.start[i + 1]]))
                    for i in range(layout.n_features)], dtype=np.int64)
    n_ref = int(np.sum(counts[layout.start[:-1] + ref]))
    n_missing = int(np.count_nonzero(dense < 0))
    if len(data.codes) - n_ref + n_missing < 0.7 * len(data.codes):
        return _ReferenceCoding(data, feat_idx, smoothing, ref)
    return _PlainCoding(data, feat_idx, smoothing)


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum


class DiscreteMixture(ClusterMixin, BaseEstimator):
    """Mixture of discrete product distributions (latent class model) fitted by EM.

    ``P(x_s) = sum_k w_k prod_i C_i(x_si | k)``: within a cluster the features are independent,
    each with its own categorical distribution. Missing values are marginalised out (never a
    category of their own). Fitting uses the EM skeleton and numba kernels shared with the
    crowd estimators, in log space, with a Dirichlet smoothing (MAP EM).

    Parameters
    ----------
    n_components : int, default=2
        Number of clusters ``c``.
    init : {"random", "kmodes", "stagewise"} or array-like (n_samples, n_components), default="kmodes"
        How each EM run starts. ``"random"``: random parameters (every column a flat Dirichlet
        draw, as in poLCA). ``"kmodes"``: k-means++ seeding on the Hamming distance, every sample
        assigned to its closest seed (k-modes-like). ``"stagewise"``: the stagewise, expert-driven
        EM of Zhao & Zucker (needs :mod:`crowdmix.stagewise`; deterministic, so ``n_init`` is
        ignored), then full EM from its solution. An array gives initial posteriors.
    n_init : int, default=10
        Number of EM runs from different random starts; the run with the best penalised
        log-likelihood is kept.
    max_iter : int, default=500
        Maximum number of EM iterations per run.
    tol : float, default=1e-5
        Stop a run when the per-sample penalised log-likelihood improves by less than this.
    smoothing : float, default=0.5
        Dirichlet pseudo-count added to every category count and mixture weight (MAP EM). It keeps
        probabilities away from zero, so that a category never seen in a cluster does not veto
        membership. 0 gives maximum likelihood.
    features : array-like of column names (or positions, or a boolean mask), optional
        Cluster on these features only (sparse clustering): the E-step, the likelihood, the
        scores and the information criteria use only them. Every feature still gets its
        per-cluster category probabilities (estimated from the posteriors), so the other features
        can be described by the clusters. See :func:`crowdmix.feature_relevance.select_features`.
    categories : "auto", list or mapping column -> values, default="auto"
        Each column's alphabet (see :class:`crowdmix.categorical.CategoricalEncoder`).
    handle_unknown : {"warn", "ignore", "error"}, default="warn"
        A value not seen in ``fit`` given to ``predict``/``score``: treated as missing with an
        :class:`crowdmix.categorical.UnseenCategoryWarning`, treated as missing silently, or
        raise :class:`crowdmix.InputError`.
    random_state : int, numpy Generator or None
        Seed of the random starts and of :meth:`sample`.
    verbose : int, default=0
        If positive, print each run's final log-likelihood (2: every iteration) to stderr.

    Attributes
    ----------
    weights_ : ndarray (n_components,)
        Mixture weights, in decreasing order (component 0 is the largest).
    category_probs_ : dict column -> pandas.DataFrame
        ``category_probs_[col].loc[value, k] = P(col = value | component k)``, keyed by the
        user's column names and values.
    log_params_ : ndarray (n_codes, n_components)
        ``log C_i(a | k)`` in the layout of ``layout_``.
    layout_ : crowdmix.em.FeatureLayout
    categories_ : list of pandas.Index
        Alphabet of each column.
    features_ : pandas.Index
        Columns the clustering uses (all columns unless ``features`` is given).
    experts_ : pandas.Index or None
        With ``init="stagewise"``: the expert features the stagewise stages selected, in order
        of entry (None otherwise).
    stagewise_ : crowdmix.stagewise.StagewiseResult or None
        With ``init="stagewise"``: the stagewise run (its history of stages, expert-only
        posteriors); feature positions in it exclude constant columns.
    labels_ : ndarray (n_samples,)
        Cluster of every training sample.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Column names, when fitted on a DataFrame with string column names.
    log_likelihood_ : ndarray
        Per-sample penalised log-likelihood at every iteration of the kept run (never decreases).
    lower_bound_ : float
        Its final value.
    n_iter_ : int
    converged_ : bool

    References
    ----------
    Zhao, V. and Zucker, S. W. (2015). Stagewise learning for sparse clustering of
    discretely-valued data. arXiv:1506.02975.
    Goodman, L. A. (1974). Exploratory latent structure analysis using both identifiable and
    unidentifiable models. *Biometrika* 61(2), 215-231.
    Huang, Z. (1998). Extensions to the k-means algorithm for clustering large data sets with
    categorical values. *Data Mining and Knowledge Discovery* 2, 283-304.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from crowdmix.discrete_mixture import DiscreteMixture
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(2, size=300)
    >>> X = pd.DataFrame({f"q{i}": np.where(rng.random(300) < 0.85, y, 1 - y) for i in range(8)})
    >>> X = X.replace({0: "no", 1: "yes"})
    >>> model = DiscreteMixture(n_components=2, random_state=0).fit(X)
    >>> from sklearn.metrics import adjusted_rand_score
    >>> bool(adjusted_rand_score(y, model.labels_) > 0.8)
    True
    >>> model.category_probs_["q0"].round(1).shape        # categories x components
    (2, 2)
    """

    def __init__(
        self,
        n_components: int = 2,
        *,
        init: Any = "kmodes",
        n_init: int = 10,
        max_iter: int = 500,
        tol: float = 1e-5,
        smoothing: float = 0.5,
        features: Any = None,
        categories: Any = "auto",
        handle_unknown: str = "warn",
        random_state: Any = None,
        verbose: int = 0,
    ):
        self.n_components = n_components
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.smoothing = smoothing
        self.features = features
        self.categories = categories
        self.handle_unknown = handle_unknown
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ validation
    def _check_params(self) -> None:
        if not _is_int(self.n_components, 1):
            raise InputError(f"n_components must be a positive integer, got {self.n_components!r}")
        if not _is_int(self.n_init, 1):
            raise InputError(f"n_init must be a positive integer, got {self.n_init!r}")
        if not _is_int(self.max_iter, 1):
            raise InputError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        if not (isinstance(self.tol, (int, float, np.number)) and self.tol >= 0):
            raise InputError(f"tol must be a number >= 0, got {self.tol!r}")
        if not (isinstance(self.smoothing, (int, float, np.number)) and self.smoothing >= 0):
            raise InputError(f"smoothing must be a number >= 0, got {self.smoothing!r}")
        if isinstance(self.init, str) and self.init not in _INITS:
            raise InputError(
                f"init must be one of {_INITS} or an array of initial posteriors, got {self.init!r}"
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.non_deterministic = False
        return tags

    def _check_fitted(self) -> None:
        if not hasattr(self, "log_params_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit before using it"
            )

    # ------------------------------------------------------------------ EM pieces
    def _e_rows(self, layout: FeatureLayout, feat_idx: np.ndarray) -> np.ndarray | None:
        if len(feat_idx) == layout.n_features:
            return None
        return layout.code_mask(feat_idx)

    def _progress(self, run: int) -> Callable[[int, float], None] | None:
        if self.verbose < 2:
            return None
        return progress_printer("DiscreteMixture", run, "sample")

    def _initial_posteriors(self, data: EncodedMatrix) -> np.ndarray:
        arr = np.asarray(self.init, dtype=float)
        shape = (data.n_samples, self.n_components)
        if arr.shape != shape:
            raise InputError(
                f"init posteriors must have shape (n_samples, n_components) = {shape}, got "
                f"{arr.shape}"
            )
        if not np.all(np.isfinite(arr)) or (arr < 0).any():
            raise InputError("init posteriors must be finite and non-negative")
        sums = arr.sum(axis=1, keepdims=True)
        return np.where(sums > 0, arr / np.where(sums > 0, sums, 1.0), 1.0 / self.n_components)

    def _stagewise_start(self, data: EncodedMatrix, rng: np.random.Generator):
        """Parameters at the end of the stagewise stages (Zhao & Zucker), and the experts."""
        try:
            from .stagewise import stagewise_fit
        except ImportError as err:  # pragma: no cover - depends on the installed version
            raise InputError(
                "init='stagewise' needs crowdmix.stagewise, which is not available in this "
                f"installation ({err}); use init='kmodes' or 'random'"
            ) from None
        # constant columns carry no information; stagewise needs alphabets of size >= 2, so
        # they are left out of its pair search (they do not change any likelihood ratio)
        keep = np.flatnonzero(data.layout.sizes >= 2)
        if len(keep) < 2:
            raise InputError(
                "init='stagewise' needs at least two features with two or more categories"
            )
        if len(keep) < data.n_features:
            sub_layout = FeatureLayout.from_sizes(data.layout.sizes[keep])
            sub_dense = data.dense[:, keep]
            observed = sub_dense >= 0
            offsets = np.zeros(data.n_samples + 1, dtype=np.int64)
            np.cumsum(observed.sum(axis=1), out=offsets[1:])
            codes = (sub_dense + sub_layout.start[:-1][None, :])[observed]
        else:
            sub_layout, offsets, codes = data.layout, data.offsets, data.codes
        result = stagewise_fit(
            offsets, codes, sub_layout, self.n_components,
            smoothing=float(self.smoothing), refine=False,
        )
        if result.stage_log_weights.shape[0] < self.n_components:
            raise InputError(
                f"stagewise EM stopped with {result.stage_log_weights.shape[0]} component(s) "
                f"({result.stop_reason}): fewer than n_components={self.n_components}; use "
                f"init='kmodes'"
            )
        log_params = np.zeros((data.n_codes, self.n_components))  # constant columns: log 1
        rows = data.layout.code_mask(keep)
        log_params[rows] = result.stage_log_params
        self.stagewise_ = result
        return (log_params, np.asarray(result.stage_log_weights, dtype=float)), keep[result.experts]

    def _run_all(self, data: EncodedMatrix, e_rows: np.ndarray | None) -> EMFit:
        rng = np.random.default_rng(self.random_state)
        n, c = data.n_samples, self.n_components
        dummy = np.full((n, c), 1.0 / c)
        if not isinstance(self.init, str):
            starts = [("resp", self._initial_posteriors(data))]
        elif self.init == "stagewise":
            params, experts = self._stagewise_start(data, rng)
            starts = [("params", params)]
            self._stagewise_experts = experts
        else:
            starts = [(self.init, None)] * self.n_init
        dense = data.dense
        if e_rows is not None:  # k-modes seeding on the selected features only
            dense = np.where(np.isin(np.arange(data.n_features), self._feat_idx)[None, :], dense, -1)
        coding = _choose_coding(data, self._feat_idx, float(self.smoothing))
        best: EMFit | None = None
        for run, (kind, value) in enumerate(starts):
            coding.reset()
            kw = dict(max_iter=self.max_iter, tol=float(self.tol), e_step_rows=coding.e_rows,
                      callback=self._progress(run))
            if kind == "random":
                value = (random_log_params(data.layout, c, rng), np.full(c, -np.log(c)))
                kind = "params"
            if kind == "params":
                fit = run_em(coding.offsets, coding.codes, coding.n_codes, dummy, coding.m_step,
                             coding.penalty, init_params=coding.to_run(*value), **kw)
            else:
                resp0 = kmodes_posteriors(dense, c, rng) if kind == "kmodes" else value
                fit = run_em(coding.offsets, coding.codes, coding.n_codes, resp0, coding.m_step,
                             coding.penalty, **kw)
            fit = coding.to_full(fit)
            if self.verbose:
                print(
                    f"DiscreteMixture: run {run + 1}/{len(starts)}: {fit.n_iter} iterations, "
                    f"log-likelihood per sample {fit.objective:.6f}"
                    + ("" if fit.converged else " (not converged)"),
                    file=sys.stderr,
                )
            if best is None or fit.objective > best.objective:
                best = fit
        assert best is not None
        return best

    # ------------------------------------------------------------------ API
    def fit(self, X: Any, y: Any = None) -> DiscreteMixture:
        """Fit the mixture by EM (``n_init`` runs, the best kept).

        Parameters
        ----------
        X : DataFrame, array-like (n_samples, n_features)
            Categorical values (any hashable values per column; NaN, None, pd.NA or "" =
            missing).
        y : ignored

        Returns
        -------
        self
        """
        self._check_params()
        self.fit_predict(X)
        return self

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit and return the cluster of every sample (``labels_``)."""
        self._check_params()
        encoder = CategoricalEncoder(categories=self.categories, handle_unknown=self.handle_unknown)
        data = encoder.fit_transform(X, owner=type(self).__name__)
        n, m = data.n_samples, data.n_features
        if n < self.n_components:
            raise InputError(
                f"n_samples={n} should be >= n_components={self.n_components}; lower n_components"
            )
        self._encoder = encoder
        self._feat_idx = (
            np.arange(m) if self.features is None else np.sort(encoder.feature_indices(self.features))
        )
        if len(self._feat_idx) == 0:
            raise InputError("features is empty; give at least one column to cluster on")
        e_rows = self._e_rows(data.layout, self._feat_idx)
        used = data.observed[:, self._feat_idx].any(axis=1)
        n_empty = int(n - used.sum())
        if n_empty:
            warnings.warn(
                f"{n_empty} sample(s) have no observed value"
                + ("" if self.features is None else " among the selected features")
                + " (first at row "
                f"{int(np.flatnonzero(~used)[0])}); they carry no information and get the mixture "
                f"weights as posterior",
                EmptyRowsWarning,
                stacklevel=2,
            )
        self._stagewise_experts = None
        self.stagewise_ = None
        fit = self._run_all(data, e_rows)
        self._store(encoder, data, fit)
        if not fit.converged:
            gain = float(np.diff(fit.history)[-1]) if fit.n_iter > 1 else float("nan")
            warnings.warn(
                f"DiscreteMixture did not converge in max_iter={self.max_iter} iterations (last "
                f"gain {gain:.3g} > tol={self.tol}); raise max_iter or tol",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self.labels_

    def _store(self, encoder: CategoricalEncoder, data: EncodedMatrix, fit: EMFit) -> None:
        order = np.argsort(-fit.log_weights, kind="stable")
        log_weights = fit.log_weights[order]
        log_params = fit.log_params[:, order]
        resp = fit.resp[:, order]
        self.log_params_ = log_params
        self.log_weights_ = log_weights
        self.weights_ = np.exp(log_weights)
        self.weights_ /= self.weights_.sum()
        self.layout_ = data.layout
        self.categories_ = encoder.categories_
        names = encoder.feature_names_
        self.n_features_in_ = data.n_features
        if encoder.from_frame_ and all(isinstance(c, str) for c in names):
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.features_ = names[self._feat_idx]
        comps = pd.RangeIndex(self.n_components, name="component")
        probs = np.exp(log_params)
        self.category_probs_ = {
            name: pd.DataFrame(
                probs[data.layout.start[i]:data.layout.start[i + 1]],
                index=pd.Index(encoder.categories_[i], name=name),
                columns=comps,
            )
            for i, name in enumerate(names)
        }
        exp = self._stagewise_experts
        self.experts_ = None if exp is None else names[np.asarray(exp, dtype=np.int64)]
        self.labels_ = np.argmax(resp, axis=1)
        self.log_likelihood_ = fit.history
        self.lower_bound_ = float(fit.history[-1])
        self.n_iter_ = fit.n_iter
        self.converged_ = fit.converged

    # ------------------------------------------------------------------ inference
    def _encode_new(self, X: Any) -> EncodedMatrix:
        self._check_fitted()
        return self._encoder.transform(X, handle_unknown=self.handle_unknown)

    def _e_step_new(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        data = self._encode_new(X)
        rows = self._e_rows(self.layout_, self._feat_idx)
        return posterior(data.offsets, data.codes, self.log_params_, self.log_weights_, rows)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior probability of each component, shape (n_samples, n_components)."""
        return self._e_step_new(X)[0]

    def predict(self, X: Any) -> np.ndarray:
        """Most probable component of each sample."""
        return np.argmax(self.predict_proba(X), axis=1)

    def score_samples(self, X: Any) -> np.ndarray:
        """Log-likelihood ``log P(x_s)`` of each sample (missing values marginalised)."""
        return self._e_step_new(X)[1]

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log-likelihood per sample (higher is better; usable by GridSearchCV)."""
        return float(np.mean(self.score_samples(X)))

    # ------------------------------------------------------------------ model selection
    def n_parameters(self) -> int:
        """Number of free parameters: ``c - 1`` weights and ``c (r_i - 1)`` per used feature."""
        self._check_fitted()
        sizes = self.layout_.sizes[self._feat_idx]
        return int(self.n_components - 1 + self.n_components * np.sum(sizes - 1))

    def bic(self, X: Any) -> float:
        """Bayesian information criterion on ``X`` (lower is better):
        ``-2 log L + n_parameters log n``."""
        ll = self.score_samples(X)
        return float(-2.0 * ll.sum() + self.n_parameters() * np.log(len(ll)))

    def aic(self, X: Any) -> float:
        """Akaike information criterion on ``X`` (lower is better): ``-2 log L + 2 n_parameters``."""
        ll = self.score_samples(X)
        return float(-2.0 * ll.sum() + 2.0 * self.n_parameters())

    def icl(self, X: Any) -> float:
        """Integrated completed likelihood (BIC form, lower is better): BIC plus twice the
        entropy of the posteriors, which penalises overlapping clusters (Biernacki, Celeux &
        Govaert, 2000)."""
        resp, ll = self._e_step_new(X)
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy = -np.sum(np.where(resp > 0, resp * np.log(resp), 0.0))
        return float(-2.0 * ll.sum() + self.n_parameters() * np.log(len(ll)) + 2.0 * entropy)

    # ------------------------------------------------------------------ generation
    def sample(self, n_samples: int = 1) -> tuple[Any, np.ndarray]:
        """Draw samples from the fitted model.

        Returns
        -------
        X : DataFrame (if fitted on a DataFrame) or ndarray (n_samples, n_features)
            Values in the user's categories, no missing values.
        y : ndarray (n_samples,)
            Component of each sample.
        """
        self._check_fitted()
        if not _is_int(n_samples, 1):
            raise InputError(f"n_samples must be a positive integer, got {n_samples!r}")
        rng = np.random.default_rng(self.random_state)
        y = rng.choice(self.n_components, size=n_samples, p=self.weights_)
        layout = self.layout_
        dense = np.empty((n_samples, layout.n_features), dtype=np.int64)
        probs = np.exp(self.log_params_)
        u = rng.random((n_samples, layout.n_features))
        for i in range(layout.n_features):
            block = probs[layout.start[i]:layout.start[i + 1]]  # (r_i, c)
            cdf = np.cumsum(block / block.sum(axis=0, keepdims=True), axis=0)
            dense[:, i] = np.minimum((u[:, i][:, None] > cdf[:, y].T).sum(axis=1), len(block) - 1)
        frame = self._encoder.decode(dense)
        return (frame if self._encoder.from_frame_ else frame.to_numpy()), y


@dataclass(frozen=True, eq=False)
class DiscreteMixtureData:
    """Samples of a planted mixture of discrete product distributions and its parameters.

    Attributes
    ----------
    X : pandas.DataFrame (n_samples, n_features)
        Integer categories ``0..r-1`` (NaN where deleted as missing), columns ``f00, f01, ...``.
    labels : ndarray (n_samples,)
        Planted component of each sample.
    weights : ndarray (n_components,)
    probs : ndarray (n_features, n_categories, n_components)
        ``probs[i, a, k] = P(x_i = a | k)``.
    informative : ndarray of bool (n_features,)
        Whether the feature's distribution depends on the component.
    """

    X: pd.DataFrame
    labels: np.ndarray
    weights: np.ndarray
    probs: np.ndarray
    informative: np.ndarray


def make_discrete_mixture(
    n_samples: int = 500,
    n_features: int = 20,
    n_components: int = 3,
    *,
    n_categories: int = 2,
    n_informative: int | None = None,
    concentration: float = 0.5,
    weights: Any = None,
    missing: float = 0.0,
    random_state: Any = None,
) -> DiscreteMixtureData:
    """Draw samples from a random mixture of discrete product distributions.

    Informative features get an independent Dirichlet(``concentration``) column per component
    (small concentration: sharp, well-separated components); the others share one column across
    components, so they carry no information about the component (the sparse-clustering
    setting of Zhao & Zucker).

    Parameters
    ----------
    n_samples, n_features, n_components : int
    n_categories : int, default=2
        Alphabet size of every feature.
    n_informative : int, optional
        Number of informative features (the first ones); all by default.
    concentration : float, default=0.5
        Dirichlet concentration of the informative columns.
    weights : array-like (n_components,), optional
        Mixture weights (uniform by default).
    missing : float, default=0.0
        Fraction of cells deleted at random (set to NaN).
    random_state : int, Generator or None

    Returns
    -------
    DiscreteMixtureData

    Examples
    --------
    >>> from crowdmix.discrete_mixture import make_discrete_mixture
    >>> data = make_discrete_mixture(100, 5, 2, random_state=0)
    >>> data.X.shape, data.probs.shape
    ((100, 5), (5, 2, 2))
    """
    for name, value, low in (("n_samples", n_samples, 1), ("n_features", n_features, 1),
                             ("n_components", n_components, 1), ("n_categories", n_categories, 2)):
        if not _is_int(value, low):
            raise InputError(f"{name} must be an integer >= {low}, got {value!r}")
    n_inf = n_features if n_informative is None else n_informative
    if not (_is_int(n_inf, 0) and n_inf <= n_features):
        raise InputError(f"n_informative must be in 0..n_features, got {n_informative!r}")
    if not 0.0 <= missing < 1.0:
        raise InputError(f"missing must be in [0, 1), got {missing!r}")
    rng = np.random.default_rng(random_state)
    w = np.full(n_components, 1.0 / n_components) if weights is None else np.asarray(weights, float)
    if w.shape != (n_components,) or (w < 0).any() or not np.isclose(w.sum(), 1.0):
        raise InputError("weights must be n_components non-negative numbers summing to one")
    alpha = np.full(n_categories, float(concentration))
    probs = np.empty((n_features, n_categories, n_components))
    for i in range(n_features):
        if i < n_inf:
            probs[i] = rng.dirichlet(alpha, size=n_components).T
        else:
            probs[i] = rng.dirichlet(np.full(n_categories, 2.0))[:, None]
    labels = rng.choice(n_components, size=n_samples, p=w)
    cdf = np.cumsum(probs, axis=1)  # (m, r, c)
    u = rng.random((n_samples, n_features))
    chosen = cdf[:, :, labels].transpose(2, 0, 1)  # (n, m, r)
    values = np.minimum((u[:, :, None] > chosen).sum(axis=2), n_categories - 1).astype(float)
    if missing > 0:
        values[rng.random(values.shape) < missing] = np.nan
    X = pd.DataFrame(values, columns=[f"f{i:02d}" for i in range(n_features)])
    informative = np.arange(n_features) < n_inf
    return DiscreteMixtureData(X, labels, w, probs, informative)
