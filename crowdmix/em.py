"""The EM skeleton for mixtures of discrete product distributions, shared by every estimator.

Model (ALGORITHMS.md §1): ``P(x_s) = sum_k w_k prod_i C_i(x_si | k)`` with missing values
marginalised out. With a Dirichlet smoothing ``alpha`` the M-step is the MAP update
``C_i(a|k) = (alpha + N_i(a, k)) / (r_i alpha + sum_a' N_i(a', k))`` (and the same pseudo-count
on the weights), so the quantity that never decreases is the *penalised* log-likelihood

    L = (1/n) [ sum_s log P(x_s) + alpha (sum_{i,a,k} log C_i(a|k) + sum_k log w_k) ],

which is what :func:`run_em` records. Estimators differ only in the M-step (how counts become
parameters: free columns, class-conditional or one-coin confusion matrices) and in the
initial posteriors, in the spirit of scikit-learn's ``sklearn/mixture/_base.py``.

References
----------
Dawid, A. P. and Skene, A. M. (1979). Maximum likelihood estimation of observer error-rates
using the EM algorithm. *Applied Statistics* 28(1), 20-28.
Zhao, V. and Zucker, S. W. (2015). Stagewise learning for sparse clustering of
discretely-valued data. arXiv:1506.02975.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .kernels.mdpd import default_n_chunks, e_step, em_pass

__all__ = [
    "FeatureLayout",
    "EMFit",
    "run_em",
    "normalize_columns",
    "normalize_weights",
    "dirichlet_penalty",
    "posterior",
    "progress_printer",
]

_LOG_FLOOR = -700.0  # log of a probability that is zero in floating point


@dataclass(frozen=True)
class FeatureLayout:
    """Where each feature's values sit in the parameter table.

    Feature ``i`` owns the rows ``start[i]:start[i + 1]`` of ``log_params``; its alphabet size
    is ``start[i + 1] - start[i]``.
    """

    start: np.ndarray

    @classmethod
    def uniform(cls, n_features: int, alphabet_size: int) -> FeatureLayout:
        """Every feature has the same alphabet (crowdsourcing: every worker answers K classes)."""
        return cls(np.arange(n_features + 1, dtype=np.int64) * alphabet_size)

    @classmethod
    def from_sizes(cls, sizes: np.ndarray) -> FeatureLayout:
        start = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=start[1:])
        return cls(start)

    @property
    def n_features(self) -> int:
        return len(self.start) - 1

    @property
    def n_codes(self) -> int:
        return int(self.start[-1])

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.start)

    @property
    def feature_of_code(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_features), self.sizes)

    def code_mask(self, features: np.ndarray) -> np.ndarray:
        """Boolean mask over value codes that belong to the given feature indices."""
        chosen = np.zeros(self.n_features, dtype=bool)
        chosen[np.asarray(features, dtype=np.int64)] = True
        return chosen[self.feature_of_code]


def _safe_log(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(p), _LOG_FLOOR)


def normalize_columns(counts: np.ndarray, layout: FeatureLayout, smoothing: float) -> np.ndarray:
    """MAP M-step with free columns: ``log C_i(a|k)`` from expected counts, shape (n_codes, c)."""
    smoothed = counts + smoothing
    totals = np.add.reduceat(smoothed, layout.start[:-1], axis=0)
    sizes = layout.sizes
    totals = np.repeat(totals, sizes, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        probs = smoothed / totals
    # a feature never observed with a component: uniform over its alphabet
    empty = ~np.isfinite(probs)
    if empty.any():
        probs[empty] = np.repeat(1.0 / sizes, sizes)[np.nonzero(empty)[0]]
    return _safe_log(probs)


def normalize_weights(resp_sum: np.ndarray, smoothing: float) -> np.ndarray:
    """MAP mixture weights from the summed posteriors: ``log w_k``."""
    w = resp_sum + smoothing
    return _safe_log(w / w.sum())


def dirichlet_penalty(log_params: np.ndarray, log_weights: np.ndarray, smoothing: float,
                      rows: np.ndarray | None = None) -> float:
    """``alpha (sum log C + sum log w)`` over the rows that enter the likelihood."""
    if smoothing == 0.0:
        return 0.0
    lp = log_params if rows is None else log_params[rows]
    return float(smoothing * (lp.sum() + log_weights.sum()))


def progress_printer(name: str, run: int, unit: str = "task") -> Callable[[int, float], None]:
    """A :func:`run_em` callback printing each iteration's objective and elapsed time to stderr."""
    import sys
    import time

    start = time.perf_counter()

    def report(iteration: int, objective: float) -> None:
        print(
            f"{name}: run {run + 1}, iteration {iteration}, log-likelihood per {unit} "
            f"{objective:.6f} ({time.perf_counter() - start:.2f} s)",
            file=sys.stderr,
        )

    return report


MStep = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
Penalty = Callable[[np.ndarray, np.ndarray], float]


@dataclass
class EMFit:
    """Result of :func:`run_em`."""

    log_params: np.ndarray
    log_weights: np.ndarray
    resp: np.ndarray
    history: np.ndarray
    n_iter: int
    converged: bool
    objective: float = field(init=False)

    def __post_init__(self) -> None:
        self.objective = float(self.history[-1]) if len(self.history) else -np.inf


def run_em(
    offsets: np.ndarray,
    codes: np.ndarray,
    n_codes: int,
    init_resp: np.ndarray,
    m_step: MStep,
    penalty: Penalty,
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    clamp: np.ndarray | None = None,
    e_step_rows: np.ndarray | None = None,
    callback: Callable[[int, float], None] | None = None,
    init_params: tuple[np.ndarray, np.ndarray] | None = None,
) -> EMFit:
    """Run EM from initial posteriors (or parameters) until the objective gain is below ``tol``.

    Parameters
    ----------
    offsets, codes, n_codes
        The encoded data (see :mod:`crowdmix.kernels.mdpd`).
    init_resp : ndarray (n, c)
        Initial posteriors; the first M-step turns them into parameters.
    m_step : callable ``(counts, resp_sum) -> (log_params, log_weights)``
    penalty : callable ``(log_params, log_weights) -> float``
        The log-prior term of the objective (for the rows that enter the E-step).
    max_iter : int
        Maximum number of E-steps.
    tol : float
        Stop when the per-sample objective improves by less than this.
    clamp : int array (n,), optional
        Known class of each sample, ``-1`` where unknown.
    e_step_rows : bool array (n_codes,), optional
        Value codes that enter the E-step (the experts); the M-step still estimates every row.
    callback : callable ``(iteration, objective)``, optional
        Called after each E-step (progress reporting).
    init_params : (log_params, log_weights), optional
        Start from parameters instead of ``init_resp``.

    Returns
    -------
    EMFit
        Parameters, the posteriors under them, the objective history (per sample; never
        decreasing up to rounding), iterations and whether ``tol`` was reached.
    """
    n = len(offsets) - 1
    n_components = np.shape(init_resp)[1] if init_params is None else len(init_params[1])
    n_chunks = default_n_chunks(n, len(codes), n_codes, n_components)
    if clamp is None:
        clamp = np.full(n, -1, dtype=np.int64)
    if init_params is None:
        from .kernels.mdpd import m_step_counts

        resp0 = np.asarray(init_resp, dtype=np.float64)
        known = clamp >= 0
        if known.any():
            resp0 = resp0.copy()
            resp0[known] = 0.0
            resp0[np.flatnonzero(known), clamp[known]] = 1.0
        counts = m_step_counts(offsets, codes, resp0, n_codes, n_chunks)
        log_params, log_weights = m_step(counts, resp0.sum(axis=0))
    else:
        log_params, log_weights = init_params
    mask = None if e_step_rows is None else np.asarray(e_step_rows, dtype=bool)
    history: list[float] = []
    converged = False
    resp = None
    buffer = np.empty((n, len(log_weights)))  # posteriors, reused by every iteration
    for it in range(max_iter):
        lp_e = log_params if mask is None else log_params * mask[:, None]
        resp, counts, ll = em_pass(offsets, codes, lp_e, log_weights, clamp, n_codes, n_chunks,
                                   out=buffer)
        objective = (ll + penalty(lp_e if mask is None else log_params[mask], log_weights)) / max(n, 1)
        history.append(objective)
        if callback is not None:
            callback(it + 1, objective)
        if it > 0 and abs(objective - history[-2]) < tol:
            converged = True
            break
        if it == max_iter - 1:  # keep the parameters that produced ``resp``
            break
        log_params, log_weights = m_step(counts, resp.sum(axis=0))
    if resp is None:  # max_iter == 0
        resp, _ = posterior(offsets, codes, log_params, log_weights, mask)
    return EMFit(log_params, log_weights, resp, np.asarray(history), len(history), converged)


def posterior(offsets, codes, log_params, log_weights, e_step_rows=None):
    """Posteriors and per-sample log-likelihoods under given parameters (one E-step)."""
    lp = log_params if e_step_rows is None else log_params * np.asarray(e_step_rows)[:, None]
    return e_step(offsets, codes, lp, log_weights, default_n_chunks(len(offsets) - 1))
