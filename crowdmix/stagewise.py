"""Stagewise, expert-driven EM for mixtures of discrete product distributions (Zhao & Zucker).

When a few informative features ("experts": reliable annotators, tuned neurons) are diluted by
many uninformative ones, EM started from all of them tends to converge to poor optima. Stagewise
EM starts instead from a single component and no experts, and lets the data nominate experts
pair by pair through the mutual information that the current model fails to explain
(ALGORITHMS.md §3):

1. E-step with the experts only: ``q_s(k) ∝ w_k prod_{i in S} C_i(x_si | k)``.
2. M-step over all features (or, ``partial_m_step=True``, over the experts only).
3. Residual mutual information of every co-observed pair and component under the weights
   ``q_s(k)`` (:mod:`crowdmix.kernels.residual_mi`; sparse, never a dense n x m x m tensor).
4. Pick the pair and component with the largest ``w_k I_k(i, j)`` (or ``I_k(i, j)`` with
   ``weighted=False``), add both features to the expert set.
5. While there are fewer than ``c`` components, split the chosen component: two copies with
   half the weight each, whose columns of the chosen pair move in opposite directions along the
   most-negative-curvature direction of the pair's residual MI (:func:`split_directions`; for
   two binary features this is the sign rule of the paper, :func:`binary_split_directions`).
6. One EM step with the expert-only E-step (:func:`crowdmix.em.run_em` with ``e_step_rows``).
   Stop when the all-feature log-likelihood gains less than ``tol`` per sample after
   ``min_steps`` stages, or after ``max_steps``. Once there are ``c`` components, each stage
   also tries a split-and-merge move (``split_merge=True``, an addition to the paper): merge
   the two components the experts tell apart least (:func:`merge_candidates`) and split the selected one,
   kept if the all-feature log-likelihood after the EM step is higher. Without it, early
   splits made with one or two experts can leave two classes in one component for good.
7. Refine with EM started from the expert-only posteriors, its M-step over all features and
   its E-step over all features (the paper's ordinary EM), over the experts plus the features
   significantly dependent on the stagewise classes, or over the experts only; by default
   (``refine_features="auto"``) the one of these that best predicts held-out values
   (:func:`refine_heldout_scores`, decided by :func:`crowdmix.experts.heldout_choice`: the
   all-feature E-step unless a smaller set is better by more than two standard errors). On
   real crowds it keeps all workers; when a few experts hide among many pure-noise workers it
   keeps the informative ones, whose fitted noise would otherwise swamp the experts.

The split direction. Splitting component ``k`` into two halves whose columns of features ``i``
and ``j`` are ``mu_i ± d_i`` and ``mu_j ± d_j`` (``d`` summing to zero) changes the model's joint
of the pair within ``k`` from ``mu_i mu_j^T`` to ``mu_i mu_j^T + d_i d_j^T``. The residual MI
left after the split is the relative entropy from the observed joint ``p`` to that model,
``g(d) = D(p || mu_i mu_j^T + d_i d_j^T)``, which equals ``I_k(i, j)`` at ``d = 0`` with zero
gradient. Its Hessian there is exactly ``[[0, -R], [-R^T, 0]]`` with ``R[a, b] = p(a, b) /
(mu_i(a) mu_j(b))``; restricted to directions that keep the columns summing to one
(``R~ = P_i R P_j``, ``P = I - 11^T / r``), its most negative eigenvalue is ``-sigma_1(R~)`` with
eigenvector ``(u_1, v_1) / sqrt(2)``: the top singular pair gives *each* feature its own
direction (the authors' MATLAB used the first feature's direction for both, a bug), and for
binary features it reduces to the paper's rule (move ``delta`` of probability mass, the second
feature in the same or the opposite direction by the sign of the residual dependence).

References
----------
Zhao, V. and Zucker, S. W. (2015). Stagewise learning for sparse clustering of
discretely-valued data. arXiv:1506.02975.
Dawid, A. P. and Skene, A. M. (1979). Maximum likelihood estimation of observer error-rates
using the EM algorithm. *Applied Statistics* 28(1), 20-28.
Ueda, N., Nakano, R., Ghahramani, Z. and Hinton, G. E. (2000). SMEM algorithm for mixture
models. *Neural Computation* 12(9), 2109-2128.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .answers import CrowdAnswers, encode_for_workers
from .base import BaseAggregator, clamp_codes, labels_series, proba_frame
from .confusion import check_confusion, confusion_frame, confusion_m_step, worker_summary
from .dawid_skene import align_to_majority
from .em import (
    FeatureLayout,
    dirichlet_penalty,
    normalize_columns,
    normalize_weights,
    posterior,
    run_em,
)
from .exceptions import ConvergenceWarning, InputError
from .kernels.mdpd import default_n_chunks, m_step_counts
from .kernels.residual_mi import (
    balanced_order,
    feature_samples,
    pair_mutual_information,
    pair_structure,
    pair_tables,
)

__all__ = [
    "StagewiseEM",
    "StagewiseResult",
    "StageRecord",
    "stagewise_fit",
    "residual_mutual_information",
    "selection_scores",
    "split_hessian",
    "split_objective",
    "split_directions",
    "binary_split_directions",
    "merge_candidates",
    "crowd_m_step",
    "stagewise_crowd_posteriors",
    "refine_heldout_scores",
    "REFINE_CANDIDATES",
]

_LOG_FLOOR = -700.0
_MOVE_ITER = 10  # EM iterations after which a split-merge move is compared with no move
_PROB_FLOOR = 1e-3  # split perturbations keep every probability at least this large

MStep = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


# --------------------------------------------------------------------------------------------
# Split directions
# --------------------------------------------------------------------------------------------


def _marginals(joint: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = np.asarray(joint, dtype=float)
    p = p / p.sum()
    return p, p.sum(axis=1), p.sum(axis=0)


def split_objective(joint: np.ndarray, d_i: np.ndarray, d_j: np.ndarray) -> float:
    """Residual MI of a pair left after splitting its component along ``(d_i, d_j)``.

    ``D(p || mu_i mu_j^T + d_i d_j^T)`` where ``p`` is the pair's joint (normalised) and
    ``mu_i``, ``mu_j`` its marginals; equals the pair's mutual information at ``d = 0``.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.4, 0.1], [0.1, 0.4]])
    >>> round(split_objective(p, np.zeros(2), np.zeros(2)), 4)  # = I(x_i; x_j)
    0.1927
    >>> d = np.sqrt(0.15) * np.array([1.0, -1.0])  # a split that explains the dependence
    >>> abs(split_objective(p, d, d)) < 1e-12
    True
    """
    p, mu_i, mu_j = _marginals(joint)
    model = np.outer(mu_i, mu_j) + np.outer(d_i, d_j)
    nz = p > 0
    return float(np.sum(p[nz] * np.log(p[nz] / model[nz])))


def _projector(r: int) -> np.ndarray:
    return np.eye(r) - np.full((r, r), 1.0 / r)


def split_hessian(joint: np.ndarray) -> np.ndarray:
    """Analytic Hessian of :func:`split_objective` at ``d = 0``, on the simplex tangent space.

    Parameters
    ----------
    joint : ndarray (r_i, r_j)
        Joint table (counts or probabilities) of the pair within the component to split.

    Returns
    -------
    ndarray (r_i + r_j, r_i + r_j)
        ``P [[0, -R], [-R^T, 0]] P`` with ``R = p / (mu_i mu_j^T)`` and ``P`` the projector onto
        directions summing to zero within each feature.

    Examples
    --------
    >>> import numpy as np
    >>> h = split_hessian(np.array([[40.0, 10.0], [10.0, 40.0]]))
    >>> float(np.round(np.linalg.eigvalsh(h).min(), 3))  # most negative curvature
    -1.2
    """
    p, mu_i, mu_j = _marginals(joint)
    ri, rj = p.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.outer(mu_i, mu_j) > 0, p / np.outer(mu_i, mu_j), 0.0)
    h = np.zeros((ri + rj, ri + rj))
    h[:ri, ri:] = -ratio
    h[ri:, :ri] = -ratio.T
    proj = np.zeros_like(h)
    proj[:ri, :ri] = _projector(ri)
    proj[ri:, ri:] = _projector(rj)
    return proj @ h @ proj


def _unit_mass(d: np.ndarray) -> np.ndarray:
    """Scale a zero-sum direction so that it moves probability mass 1 (half its L1 norm)."""
    mass = 0.5 * np.abs(d).sum()
    return d / mass if mass > 0 else d


def split_directions(joint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Most-negative-curvature direction of a pair's residual MI, one direction per feature.

    The top singular pair ``(u, v)`` of ``P_i R P_j`` (see :func:`split_hessian`), each scaled to
    move one unit of probability mass (``0.5 * |u|_1 = 1``); multiply by ``delta``.

    Examples
    --------
    >>> import numpy as np
    >>> d_i, d_j = split_directions(np.array([[40.0, 10.0], [10.0, 40.0]]))
    >>> bool(np.sign(d_i[0]) == np.sign(d_j[0]))  # positive dependence: same direction
    True
    """
    p, mu_i, mu_j = _marginals(joint)
    h = split_hessian(p)
    ri = p.shape[0]
    rtilde = -h[:ri, ri:]
    u, s, vt = np.linalg.svd(rtilde)
    d_i, d_j = u[:, 0], vt[0]
    if s[0] <= 1e-12:  # no residual dependence: any tangent direction is as good
        d_i = np.zeros(ri)
        d_i[:2] = (1.0, -1.0)
        d_j = np.zeros(p.shape[1])
        d_j[:2] = (1.0, -1.0)
    # a deterministic sign: the first feature's first clearly non-zero move is positive
    lead = np.flatnonzero(np.abs(d_i) > 1e-8 * np.abs(d_i).max())[0]
    if d_i[lead] < 0:
        d_i, d_j = -d_i, -d_j
    return _unit_mass(d_i), _unit_mass(d_j)


def binary_split_directions(joint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The paper's rule for two binary features: mass moves from value 1 to value 0 in the first
    feature, and in the second in the same direction if the pair's residual dependence is
    positive (``p00 p11 > p01 p10``), else in the opposite direction.

    Examples
    --------
    >>> import numpy as np
    >>> binary_split_directions(np.array([[10.0, 40.0], [40.0, 10.0]]))
    (array([ 1., -1.]), array([-1.,  1.]))
    """
    p = np.asarray(joint, dtype=float)
    if p.shape != (2, 2):
        raise InputError(f"the binary split rule needs a 2 x 2 joint table, got shape {p.shape}")
    sign = 1.0 if p[0, 0] * p[1, 1] - p[0, 1] * p[1, 0] >= 0 else -1.0
    return np.array([1.0, -1.0]), sign * np.array([1.0, -1.0])


def _perturb(log_params: np.ndarray, rows: slice, k: int, new: int, d: np.ndarray, delta: float):
    """Columns ``k`` and ``new`` of a feature get ``mu + t d`` and ``mu - t d``, ``t <= delta``
    as large as keeps every probability >= the floor (columns stay distributions)."""
    mu = np.exp(log_params[rows, k])
    mu = mu / mu.sum()
    step = float(delta)
    moving = np.abs(d) > 0
    if moving.any():
        room = (mu[moving] - _PROB_FLOOR) / np.abs(d[moving])
        step = max(0.0, min(step, float(room.min())))
    with np.errstate(divide="ignore"):
        log_params[rows, k] = np.maximum(np.log(mu + step * d), _LOG_FLOOR)
        log_params[rows, new] = np.maximum(np.log(mu - step * d), _LOG_FLOOR)


def _split_component(log_params, log_weights, k, joint, rows_i, rows_j, split, delta):
    """Parameters with component ``k`` split in two (the new copy last) along the pair's
    split direction (see :func:`stagewise_fit`, ``split``)."""
    if split == "binary" or (split == "auto" and joint.shape == (2, 2)):
        d_i, d_j = binary_split_directions(joint)
    else:
        d_i, d_j = split_directions(joint)
    c_t = log_weights.shape[0]
    log_params = np.concatenate([log_params, log_params[:, [k]]], axis=1)
    log_weights = np.append(log_weights, log_weights[k])
    log_weights[[k, -1]] -= np.log(2.0)
    for rows, d in ((rows_i, d_i), (rows_j, d_j)):
        _perturb(log_params, rows, k, c_t, d, delta)
    return log_params, log_weights


def merge_candidates(
    offsets: np.ndarray,
    codes: np.ndarray,
    log_params: np.ndarray,
    log_weights: np.ndarray,
    exclude: int,
    e_step_rows: np.ndarray | None = None,
) -> tuple[int, int] | None:
    """The two components whose merge loses the least log-likelihood, neither of them ``exclude``.

    Every pair ``a < b`` is replaced by its mixture (weight ``w_a + w_b``, columns
    ``(w_a C_a + w_b C_b) / (w_a + w_b)``) and scored by the log-likelihood of the samples on
    the value codes in ``e_step_rows`` (stagewise EM: the experts); the best-scoring pair is the
    one the data distinguish least (the same class split in two, or a nearly empty component).
    This is the merge step of split-and-merge EM (Ueda et al. 2000) with the likelihood loss of
    the merge as criterion (their posterior-overlap criterion misses twin components when the
    experts' posteriors are sharp). None with fewer than three components.

    Examples
    --------
    >>> import numpy as np
    >>> from crowdmix.em import FeatureLayout
    >>> x = np.array([[0, 0], [0, 0], [1, 1], [1, 1]])
    >>> offsets, codes = np.arange(0, 9, 2), (x + 2 * np.arange(2)).ravel()
    >>> on0, on1 = np.log([0.9, 0.1]), np.log([0.1, 0.9])
    >>> log_params = np.array([np.r_[on0, on0], np.r_[on0, on0], np.r_[on1, on1]]).T  # 0 = 1
    >>> merge_candidates(offsets, codes, log_params, np.log(np.full(3, 1 / 3)), exclude=2)
    (0, 1)
    """
    c = log_weights.shape[0]
    keep = [a for a in range(c) if a != exclude]
    if len(keep) < 2:
        return None
    best, best_ll = None, -np.inf
    for x in range(len(keep)):
        for y in range(x + 1, len(keep)):
            a, b = keep[x], keep[y]
            lp, lw = _merge_components(log_params, log_weights, a, b)
            _, sample_ll = posterior(offsets, codes, lp, lw, e_step_rows)
            total = float(sample_ll.sum())
            if total > best_ll:
                best, best_ll = (a, b), total
    return best


def _merge_components(log_params, log_weights, a, b):
    """Components ``a`` and ``b`` (``a < b``) replaced by their mixture, at index ``a``."""
    lw = np.logaddexp(log_weights[a], log_weights[b])
    col = np.logaddexp(log_weights[a] + log_params[:, a], log_weights[b] + log_params[:, b]) - lw
    log_params = np.delete(log_params, b, axis=1)
    log_weights = np.delete(log_weights, b)
    log_params[:, a] = np.maximum(col, _LOG_FLOOR)
    log_weights[a] = lw
    return log_params, log_weights


# --------------------------------------------------------------------------------------------
# Residual mutual information
# --------------------------------------------------------------------------------------------


def selection_scores(
    mi: np.ndarray,
    mass: np.ndarray,
    weights: np.ndarray,
    eligible: np.ndarray,
    dof: np.ndarray,
    weighted: bool | str = True,
    bias_correction: bool = False,
    n_samples: int | None = None,
) -> np.ndarray:
    """Pair-selection scores of stagewise EM, shape (n_pairs, c); the stage picks the argmax.

    ``w_k I_k(i, j)`` (``weighted=True``; the authors' Python), ``I_k(i, j)`` (``False``; their
    MATLAB) or ``(N_k(i, j) / n) I_k(i, j)`` (``"mass"``: the weight of the samples where both
    features are observed, ``= w_k I_k`` for complete data, ``G / 2n`` of the G-test), with
    ``I_k`` optionally reduced by the Miller-Madow bias ``dof / (2 N_k)`` (``N_k = mass``, the
    pair's weighted count in component ``k``; an empty table scores ``-inf``); pairs that are not
    ``eligible`` (too little overlap) score ``-inf``.

    Examples
    --------
    >>> import numpy as np
    >>> mi = np.array([[0.30, 0.00], [0.05, 0.20]])       # 2 pairs x 2 components
    >>> w = np.array([0.9, 0.1])
    >>> ok, dof = np.ones(2, bool), np.ones(2)
    >>> np.unravel_index(selection_scores(mi, mi, w, ok, dof, True).argmax(), mi.shape)
    (np.int64(0), np.int64(0))
    """
    score = np.array(mi, dtype=float, copy=True)
    if bias_correction:
        with np.errstate(divide="ignore", invalid="ignore"):
            score -= np.where(mass > 0, dof[:, None] / (2.0 * mass), np.inf)
    if weighted == "mass":
        if n_samples is None:
            raise InputError("weighted='mass' needs n_samples")
        score *= mass / max(float(n_samples), 1.0)
    elif weighted:
        score *= np.asarray(weights, dtype=float)[None, :]
    score[~np.asarray(eligible, dtype=bool)] = -np.inf
    return score


class _PairData:
    """Everything about the data the residual-MI kernels need, computed once per fit."""

    def __init__(self, offsets: np.ndarray, codes: np.ndarray, layout: FeatureLayout):
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.codes = np.asarray(codes, dtype=np.int64)
        self.layout = layout
        fcode = layout.feature_of_code.astype(np.int64)
        self.feature_of_code = fcode
        self.value_of_code = (np.arange(layout.n_codes) - layout.start[:-1][fcode]).astype(np.int64)
        self.sizes = layout.sizes.astype(np.int64)
        n = len(self.offsets) - 1
        self.sample_of_value = np.repeat(np.arange(n, dtype=np.int64), np.diff(self.offsets))
        self.pairs = pair_structure(self.offsets, self.codes, fcode, self.sizes)
        self.feat_indptr, self.feat_positions = feature_samples(
            self.offsets, self.codes, fcode, layout.n_features
        )
        self.row_order = balanced_order(layout.n_features)
        self.n_chunks = max(1, min(layout.n_features, default_n_chunks(layout.n_features)))

    def tables(self, resp: np.ndarray) -> np.ndarray:
        pr = self.pairs
        return pair_tables(
            self.offsets, self.codes, self.sample_of_value, self.feature_of_code,
            self.value_of_code, self.sizes, self.feat_indptr, self.feat_positions,
            self.row_order, pr.indptr, pr.indices, pr.block_start,
            np.ascontiguousarray(resp, dtype=np.float64), self.n_chunks,
        )

    def mutual_information(self, tables: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pr = self.pairs
        return pair_mutual_information(tables, pr.first, pr.second, self.sizes, pr.block_start)

    def table(self, tables: np.ndarray, p: int, k: int) -> np.ndarray:
        pr = self.pairs
        ri, rj = self.sizes[pr.first[p]], self.sizes[pr.second[p]]
        return tables[pr.block_start[p]:pr.block_start[p + 1], k].reshape(ri, rj)


def residual_mutual_information(
    offsets: np.ndarray, codes: np.ndarray, layout: FeatureLayout, resp: np.ndarray
) -> pd.DataFrame:
    """Residual conditional mutual information of every co-observed feature pair.

    Parameters
    ----------
    offsets, codes
        Encoded samples (see :mod:`crowdmix.kernels.mdpd`).
    layout : FeatureLayout
    resp : ndarray (n, c)
        Posteriors ``q_s(k)`` (a column of ones gives the plain pairwise mutual information).

    Returns
    -------
    DataFrame
        One row per pair ``i < j`` observed together: ``first``, ``second``, ``overlap`` (number
        of samples where both are observed), then ``mi_<k>`` (nats) and ``mass_<k>``
        (``sum_s q_s(k)`` over those samples) for every component.

    Examples
    --------
    >>> import numpy as np
    >>> from crowdmix.em import FeatureLayout
    >>> x = np.array([[0, 0, 1], [1, 1, 0], [0, 0, 0], [1, 1, 1]])  # features 0, 1 agree
    >>> offsets = np.arange(0, 13, 3)
    >>> codes = (x + 2 * np.arange(3)).ravel()
    >>> table = residual_mutual_information(offsets, codes, FeatureLayout.uniform(3, 2),
    ...                                     np.ones((4, 1)))
    >>> table.loc[0, ["first", "second"]].tolist(), round(float(table.loc[0, "mi_0"]), 4)
    ([0, 1], 0.6931)
    """
    data = _PairData(offsets, codes, layout)
    mi, mass = data.mutual_information(data.tables(np.asarray(resp, dtype=float)))
    pr = data.pairs
    out = {"first": pr.first, "second": pr.second, "overlap": pr.overlap}
    for k in range(mi.shape[1]):
        out[f"mi_{k}"] = mi[:, k]
    for k in range(mi.shape[1]):
        out[f"mass_{k}"] = mass[:, k]
    return pd.DataFrame(out)


# --------------------------------------------------------------------------------------------
# The stagewise fit
# --------------------------------------------------------------------------------------------


@dataclass
class StageRecord:
    """One stage of stagewise EM.

    Attributes
    ----------
    step : int
        Stage number (1-based).
    pair : (int, int)
        The selected features (``first < second``).
    component : int
        The component whose residual MI was largest (the one split, if ``split``).
    new_experts : tuple of int
        Features that joined the expert set at this stage (empty if both were experts).
    split : bool
        Whether the component was split.
    n_components : int
        Number of components after the stage.
    residual_mi : float
        ``I_k(i, j)`` of the selected pair and component before the stage (nats).
    score : float
        The selection score (``w_k I_k``, or ``I_k`` if unweighted, minus any bias correction).
    log_likelihood : float
        Mean all-feature log-likelihood per sample after the stage's EM step.
    merged : (int, int) or None
        Split-merge stage (``split_merge=True``, once there are ``c`` components): the two
        components (indices before the stage) that were merged to make room for the split of
        ``component``; None otherwise.
    """

    step: int
    pair: tuple[int, int]
    component: int
    new_experts: tuple[int, ...]
    split: bool
    n_components: int
    residual_mi: float
    score: float
    log_likelihood: float
    merged: tuple[int, int] | None = None


@dataclass
class StagewiseResult:
    """Result of :func:`stagewise_fit`.

    Attributes
    ----------
    resp_experts : ndarray (n, c)
        Posteriors of the stagewise model with the E-step on the experts only (samples where no
        expert is observed get the all-feature posterior instead of the bare prior).
    resp_refined : ndarray (n, c) or None
        Posteriors after refinement with all features (None if ``refine=False``).
    log_params, log_weights : ndarray
        Final parameters (refined if refinement ran, else the stagewise ones).
    stage_log_params, stage_log_weights : ndarray
        Parameters at the end of the stagewise phase.
    experts : ndarray of int
        Expert features in order of entry.
    history : list of StageRecord
    initial_log_likelihood : float
        Mean all-feature log-likelihood of the one-component start.
    refine_history : ndarray
        Per-sample penalised log-likelihood of every refinement iteration (never decreasing).
    stop_reason : str
        ``"tol"`` (gain below ``tol``), ``"max_steps"`` or ``"no_candidates"`` (no pair left
        with enough overlap and positive score).
    refine_converged : bool
    refine_set : ndarray of int
        Features in the refinement's E-step.
    timings : dict
        Seconds spent in ``"setup"``, ``"stages"`` and ``"refine"`` (including the held-out
        choice of ``refine_features="auto"``).
    refine_choice : str or None
        The refinement's E-step set: ``refine_features``, or the candidate ``"auto"`` chose.
    refine_table : DataFrame or None
        ``refine_features="auto"`` only: per candidate, ``n_features``, mean held-out
        log-likelihood per value ``heldout``, standard error of its paired difference to the
        best ``heldout_se`` and ``chosen``.
    """

    resp_experts: np.ndarray
    resp_refined: np.ndarray | None
    log_params: np.ndarray
    log_weights: np.ndarray
    stage_log_params: np.ndarray
    stage_log_weights: np.ndarray
    experts: np.ndarray
    history: list[StageRecord]
    initial_log_likelihood: float
    refine_history: np.ndarray
    stop_reason: str
    refine_converged: bool
    refine_set: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    timings: dict = field(default_factory=dict)
    refine_choice: str | None = None
    refine_table: pd.DataFrame | None = None

    @property
    def resp(self) -> np.ndarray:
        """The refined posteriors if available, else the expert-only ones."""
        return self.resp_refined if self.resp_refined is not None else self.resp_experts

    @property
    def n_stages(self) -> int:
        return len(self.history)

    def history_frame(self) -> pd.DataFrame:
        """The per-stage history as a DataFrame (one row per stage)."""
        rows = [
            {
                "step": r.step, "first": r.pair[0], "second": r.pair[1], "component": r.component,
                "new_experts": list(r.new_experts), "split": r.split,
                "n_components": r.n_components, "residual_mi": r.residual_mi, "score": r.score,
                "log_likelihood": r.log_likelihood, "merged": r.merged,
            }
            for r in self.history
        ]
        cols = ["step", "first", "second", "component", "new_experts", "split", "n_components",
                "residual_mi", "score", "log_likelihood", "merged"]
        return pd.DataFrame(rows, columns=cols)


def _free_m_step(layout: FeatureLayout, smoothing: float) -> MStep:
    def m_step(counts: np.ndarray, resp_sum: np.ndarray):
        return normalize_columns(counts, layout, smoothing), normalize_weights(resp_sum, smoothing)

    return m_step


def crowd_m_step(n_workers: int, n_classes: int, smoothing: float, confusion: str = "full") -> MStep:
    """M-step for crowd answers that works for any number of components up to ``K``.

    With ``K`` components it is :func:`crowdmix.confusion.confusion_m_step`; during the stages
    with fewer components (not yet square confusion matrices) the columns are free.
    """
    layout = FeatureLayout.uniform(n_workers, n_classes)
    free = _free_m_step(layout, smoothing)

    def m_step(counts: np.ndarray, resp_sum: np.ndarray):
        if counts.shape[1] != n_classes:
            return free(counts, resp_sum)
        probs = confusion_m_step(counts, n_workers, n_classes, smoothing, confusion)
        with np.errstate(divide="ignore"):
            log_params = np.maximum(np.log(probs.reshape(n_workers * n_classes, n_classes)), _LOG_FLOOR)
        return log_params, normalize_weights(resp_sum, smoothing)

    return m_step


def _check_fit_args(layout, n_components, delta, tol, min_steps, max_steps, min_overlap):
    if not isinstance(layout, FeatureLayout):
        raise InputError(f"layout must be a crowdmix.em.FeatureLayout, got {type(layout).__name__}")
    if not (isinstance(n_components, (int, np.integer)) and n_components >= 1):
        raise InputError(f"n_components must be a positive integer, got {n_components!r}")
    if not 0 < delta < 0.5:
        raise InputError(f"delta must be in (0, 0.5), got {delta!r}")
    if not tol >= 0:
        raise InputError(f"tol must be >= 0, got {tol!r}")
    for name, val in (("min_steps", min_steps), ("max_steps", max_steps)):
        if not (isinstance(val, (int, np.integer)) and val >= 0):
            raise InputError(f"{name} must be a non-negative integer, got {val!r}")
    if max_steps < 1:
        raise InputError(f"max_steps must be at least 1, got {max_steps!r}")
    if not (isinstance(min_overlap, (int, np.integer)) and min_overlap >= 1):
        raise InputError(f"min_overlap must be a positive integer, got {min_overlap!r}")


def stagewise_fit(
    offsets: np.ndarray,
    codes: np.ndarray,
    layout: FeatureLayout,
    n_components: int,
    *,
    m_step: MStep | None = None,
    smoothing: float = 0.01,
    weighted: bool | str = True,
    partial_m_step: bool = False,
    split: str = "auto",
    delta: float = 0.05,
    tol: float = 1e-3,
    min_steps: int = 5,
    max_steps: int = 30,
    min_overlap: int = 1,
    bias_correction: bool = False,
    split_merge: bool = True,
    refine: bool = True,
    refine_features: str = "auto",
    refine_alpha: float = 0.01,
    refine_max_iter: int = 100,
    refine_tol: float = 1e-6,
    refine_folds: int = 4,
    random_state: Any = 0,
    align: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    clamp: np.ndarray | None = None,
    callback: Callable[[StageRecord], None] | None = None,
) -> StagewiseResult:
    """Stagewise, expert-driven EM for any mixture of discrete product distributions.

    Parameters
    ----------
    offsets : int array (n + 1,)
        The observed values of sample ``s`` are ``codes[offsets[s]:offsets[s + 1]]``.
    codes : int array (n_values,)
        Value codes: value ``a`` of feature ``i`` is ``layout.start[i] + a``; missing values
        have no code. A feature appears at most once per sample.
    layout : FeatureLayout
        Alphabet of every feature (any sizes >= 2).
    n_components : int
        Target number of components ``c``.
    m_step : callable ``(counts, resp_sum) -> (log_params, log_weights)``, optional
        The M-step; it must accept any number of components up to ``c`` (e.g.
        :func:`crowd_m_step`). Default: free columns with Dirichlet ``smoothing``.
    smoothing : float, default=0.01
        Dirichlet pseudo-count of the default M-step and of the penalty of the objective.
    weighted : {True, "mass", False}, default=True
        Select the pair and component maximising ``w_k I_k(i, j)`` (True, the authors' Python),
        ``(N_k(i, j) / n) I_k(i, j)`` with ``N_k(i, j) = sum_s q_s(k) [both observed]`` ("mass";
        for complete data this equals ``w_k I_k``, for sparse data it discounts pairs that share
        few samples, whose mutual information is large by chance) or ``I_k(i, j)`` (False, their
        MATLAB).
    partial_m_step : bool, default=False
        Update only the experts' columns during the stages (the non-experts' columns are
        filled from the final expert posteriors before refinement and for the stopping rule).
    split : {"auto", "hessian", "binary"}, default="auto"
        Split direction: the most-negative-curvature direction of the pair's residual MI
        ("hessian"), the paper's sign rule for binary pairs ("binary"), or the sign rule when
        both features are binary and the Hessian direction otherwise ("auto"; for binary pairs
        both give the same direction).
    delta : float, default=0.05
        Probability mass moved between the two copies of a split component.
    tol : float, default=1e-3
        Stop when the all-feature log-likelihood per sample gains less than this ...
    min_steps : int, default=5
        ... after at least this many stages (and once there are ``c`` components).
    max_steps : int, default=30
        Maximum number of stages.
    min_overlap : int, default=1
        Pairs observed together in fewer samples are not candidates (sparse data: tiny
        overlaps give large, meaningless mutual information).
    bias_correction : bool, default=False
        Subtract the Miller-Madow bias ``(r_i - 1)(r_j - 1) / (2 N_k)`` (``N_k`` the pair's
        weighted count in component ``k``) from ``I_k`` before selecting.
    split_merge : bool, default=True
        Once there are ``c`` components, a selected component ``k`` whose pair still has
        residual dependence may hold several classes (the early splits, made with one or two
        experts, can leave two classes in one component and split another class in two; a
        stage without a split can never undo that). Every such stage therefore also tries a
        split-and-merge move (Ueda et al. 2000): the two components most alike by their
        posteriors (:func:`merge_candidates`, never ``k``) become one and ``k`` is split along
        the pair's direction; after the stage's EM step the move is kept only if its
        all-feature log-likelihood is higher than that of the plain step (so the number of
        components stays ``c`` and the stage's gain is never lower). ``False``: the paper's
        procedure.
    refine : bool, default=True
        Run EM with all features from the expert-only posteriors at the end.
    refine_features : {"auto", "all", "informative", "experts"}, default="auto"
        Features in the refinement's E-step (its M-step always estimates every feature):
        all of them (ordinary EM, as in the paper), the experts plus every feature whose values
        depend significantly on the stagewise posteriors (G-test of independence of the
        expected counts ``N_i(a, k)``, ``G ~ chi2((r_i - 1)(c - 1))`` under independence,
        p-value below ``refine_alpha``), or the experts only (the authors' Python, whose
        refinement kept the E-step on the selected features). Samples with no value of those
        features get their all-feature posterior. ``"auto"`` chooses among these three without
        labels by the held-out log-likelihood of the observed values
        (:func:`refine_heldout_scores`, ``refine_folds`` folds) with the rule of
        :func:`crowdmix.experts.heldout_choice`: all features unless a smaller set predicts
        held-out values better by more than two standard errors of the paired difference,
        then the largest set within one standard error of the best.
    refine_alpha : float, default=0.01
        Significance level of ``refine_features="informative"``.
    refine_max_iter, refine_tol : int, float
        Iterations and per-sample tolerance of the refinement.
    refine_folds : int, default=4
        Folds of the held-out choice of ``refine_features="auto"``.
    random_state : int, Generator or None, default=0
        Seed of that fold split (the only randomness; the fit is deterministic for a seed).
    align : callable ``(resp_experts, experts) -> permutation``, optional
        Reorders the components after the stages (before refinement): component
        ``perm[k]`` becomes component ``k``.
    clamp : int array (n,), optional
        Known component per sample (-1 unknown), used in the refinement (after ``align``).
    callback : callable ``(StageRecord) -> None``, optional
        Called after every stage.

    Returns
    -------
    StagewiseResult

    Examples
    --------
    >>> import numpy as np
    >>> from crowdmix.em import FeatureLayout
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 300)
    >>> x = rng.integers(0, 2, (300, 20))                     # 20 noise features ...
    >>> for i in (3, 11):                                     # ... but two experts
    ...     x[:, i] = np.where(rng.random(300) < 0.9, y, 1 - y)
    >>> offsets = np.arange(0, x.size + 1, 20)
    >>> codes = (x + 2 * np.arange(20)).ravel()
    >>> fit = stagewise_fit(offsets, codes, FeatureLayout.uniform(20, 2), 2)
    >>> fit.history[0].pair
    (3, 11)
    >>> acc = (fit.resp.argmax(1) == y).mean()
    >>> bool(max(acc, 1 - acc) > 0.9)
    True
    """
    _check_fit_args(layout, n_components, delta, tol, min_steps, max_steps, min_overlap)
    if refine_features not in ("auto", "all", "informative", "experts"):
        raise InputError(
            f"refine_features must be 'auto', 'all', 'informative' or 'experts', "
            f"got {refine_features!r}"
        )
    if not (isinstance(refine_folds, (int, np.integer)) and refine_folds >= 2):
        raise InputError(f"refine_folds must be an integer >= 2, got {refine_folds!r}")
    if not 0 < refine_alpha < 1:
        raise InputError(f"refine_alpha must be in (0, 1), got {refine_alpha!r}")
    if weighted not in ("mass", True, False):
        raise InputError(f"weighted must be 'mass', True or False, got {weighted!r}")
    if split not in ("auto", "hessian", "binary"):
        raise InputError(f"split must be 'auto', 'hessian' or 'binary', got {split!r}")
    if split == "binary" and np.any(layout.sizes != 2):
        raise InputError("split='binary' needs every feature to be binary; use 'auto' or 'hessian'")
    t0 = time.perf_counter()
    offsets = np.asarray(offsets, dtype=np.int64)
    codes = np.asarray(codes, dtype=np.int64)
    n = len(offsets) - 1
    n_codes = layout.n_codes
    c = int(n_components)
    if m_step is None:
        m_step = _free_m_step(layout, smoothing)

    def penalty(lp, lw):
        return dirichlet_penalty(lp, lw, smoothing)

    def mean_loglik(lp, lw) -> float:
        _, sample_ll = posterior(offsets, codes, lp, lw)
        return float(sample_ll.mean()) if n else 0.0

    n_chunks = default_n_chunks(n)
    data = _PairData(offsets, codes, layout)
    pairs = data.pairs
    dof = ((data.sizes[pairs.first] - 1) * (data.sizes[pairs.second] - 1)).astype(float)
    eligible = pairs.overlap >= min_overlap
    timings = {"setup": time.perf_counter() - t0}

    t1 = time.perf_counter()
    resp = np.ones((n, 1))
    log_params, log_weights = m_step(m_step_counts(offsets, codes, resp, n_codes, n_chunks), resp.sum(0))
    ll = ll0 = mean_loglik(log_params, log_weights)
    expert_set: list[int] = []
    is_expert = np.zeros(layout.n_features, dtype=bool)
    row_mask = np.zeros(n_codes, dtype=bool)
    history: list[StageRecord] = []
    stop_reason = "max_steps"

    for step in range(1, max_steps + 1):
        c_t = log_weights.shape[0]
        tables = data.tables(resp)
        mi, mass = data.mutual_information(tables)
        score = selection_scores(mi, mass, resp.mean(axis=0), eligible, dof, weighted,
                                 bias_correction, n)
        if score.size == 0 or not np.isfinite(score).any() or score.max() <= 0:
            if c_t < c:
                raise InputError(
                    f"stagewise EM found no pair of features observed together in at least "
                    f"min_overlap={min_overlap} samples with any residual dependence, so it "
                    f"cannot grow from {c_t} to {c} components; lower min_overlap or use "
                    f"another initialisation"
                )
            stop_reason = "no_candidates"
            break
        p, k = np.unravel_index(int(np.argmax(score)), score.shape)
        i, j = int(pairs.first[p]), int(pairs.second[p])
        new = tuple(f for f in (i, j) if not is_expert[f])
        for f in new:
            is_expert[f] = True
            expert_set.append(f)
            row_mask[layout.start[f]:layout.start[f + 1]] = True
        did_split = c_t < c
        rows_i = slice(layout.start[i], layout.start[i + 1])
        rows_j = slice(layout.start[j], layout.start[j + 1])
        if did_split:
            log_params, log_weights = _split_component(
                log_params, log_weights, k, data.table(tables, p, k), rows_i, rows_j, split, delta
            )

        def em_step(lp0, lw0, n_iter=2):
            step_m = m_step
            if partial_m_step:
                frozen = lp0.copy()

                def step_m(counts, resp_sum):
                    lp, lw = m_step(counts, resp_sum)
                    return np.where(row_mask[:, None], lp, frozen), lw

            fit = run_em(
                offsets, codes, n_codes, None, step_m, penalty, max_iter=n_iter, tol=0.0,
                e_step_rows=row_mask, init_params=(lp0, lw0),
            )
            lp_eval = fit.log_params
            if partial_m_step:
                lp_eval = _complete(fit.log_params, row_mask, m_step, offsets, codes, fit.resp,
                                    n_codes, n_chunks)
            return fit.log_params, fit.log_weights, fit.resp, mean_loglik(lp_eval, fit.log_weights)

        # split-merge move: with c components already, a component whose experts still depend
        # on each other holds several classes; merging the two most alike components frees one
        # for a split of it. Kept only if it raises the all-feature log-likelihood.
        merged = None
        move = None
        if split_merge and not did_split:
            move = merge_candidates(offsets, codes, log_params, log_weights, int(k), row_mask)
        if move is not None:
            a, b = move
            lp_m, lw_m = _merge_components(log_params, log_weights, a, b)
            k_m = int(k) - (int(k) > b)
            lp_m, lw_m = _split_component(
                lp_m, lw_m, k_m, data.table(tables, p, k), rows_i, rows_j, split, delta
            )
            moved = em_step(lp_m, lw_m, _MOVE_ITER)
            ref_ll = em_step(log_params, log_weights, _MOVE_ITER)[3]
        log_params, log_weights, resp, new_ll = em_step(log_params, log_weights)
        if move is not None and moved[3] > ref_ll:
            log_params, log_weights, resp, new_ll = moved
            merged = move
        record = StageRecord(
            step=step, pair=(i, j), component=int(k), new_experts=new,
            split=did_split or merged is not None, n_components=int(log_weights.shape[0]),
            residual_mi=float(mi[p, k]), score=float(score[p, k]), log_likelihood=new_ll,
            merged=merged,
        )
        history.append(record)
        if callback is not None:
            callback(record)
        gain = new_ll - ll
        ll = new_ll
        if step >= min_steps and gain < tol and log_weights.shape[0] == c:
            stop_reason = "tol"
            break

    if partial_m_step:
        log_params = _complete(log_params, row_mask, m_step, offsets, codes, resp, n_codes, n_chunks)
    resp_experts = resp.copy()
    no_expert = np.bincount(data.sample_of_value[row_mask[codes]], minlength=n) == 0
    if no_expert.any():
        full_resp, _ = posterior(offsets, codes, log_params, log_weights)
        resp_experts[no_expert] = full_resp[no_expert]
    experts = np.asarray(expert_set, dtype=np.int64)
    if align is not None:
        perm = np.asarray(align(resp_experts, experts), dtype=np.int64)
        resp_experts = resp_experts[:, perm]
        log_params = log_params[:, perm]
        log_weights = log_weights[perm]
    timings["stages"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    stage_lp, stage_lw = log_params, log_weights
    resp_refined = None
    refine_history = np.zeros(0)
    refine_converged = False
    refine_set = np.arange(layout.n_features)
    refine_choice = None
    refine_table = None
    if refine:
        sets = _refine_candidates(
            refine_features, is_expert, offsets, codes, layout, resp_experts, refine_alpha, n_chunks
        )
        if refine_features == "auto":
            refine_choice, refine_table = _choose_refine_set(
                offsets, codes, layout, sets, resp_experts, m_step, penalty, clamp,
                refine_max_iter, refine_tol, refine_folds, random_state,
            )
        else:
            refine_choice = refine_features
        refine_set = np.flatnonzero(sets[refine_choice])
        refine_mask = None if sets[refine_choice].all() else layout.code_mask(refine_set)
        fit, resp_refined = _refine_em(
            offsets, codes, layout, resp_experts, m_step, penalty, clamp, refine_max_iter,
            refine_tol, refine_mask,
        )
        log_params, log_weights = fit.log_params, fit.log_weights
        refine_history, refine_converged = fit.history, fit.converged
    timings["refine"] = time.perf_counter() - t2
    return StagewiseResult(
        resp_experts=resp_experts, resp_refined=resp_refined, log_params=log_params,
        log_weights=log_weights, stage_log_params=stage_lp, stage_log_weights=stage_lw,
        experts=experts, history=history, initial_log_likelihood=ll0,
        refine_history=refine_history, stop_reason=stop_reason,
        refine_converged=refine_converged, refine_set=refine_set, timings=timings,
        refine_choice=refine_choice, refine_table=refine_table,
    )


#: candidate E-step sets of ``refine_features="auto"``, smallest first: :func:`heldout_choice`
#: keeps the last one (all features, the paper's ordinary EM) unless a smaller one predicts
#: held-out values clearly better
REFINE_CANDIDATES = ("experts", "informative", "all")


def _refine_candidates(refine_features, is_expert, offsets, codes, layout, resp_experts,
                       refine_alpha, n_chunks) -> dict[str, np.ndarray]:
    """Boolean feature masks of the refinement's candidate E-step sets (only those needed)."""
    names = REFINE_CANDIDATES if refine_features == "auto" else (refine_features,)
    sets: dict[str, np.ndarray] = {}
    for name in names:
        if name == "all":
            sets[name] = np.ones(layout.n_features, dtype=bool)
        elif name == "experts":
            sets[name] = is_expert.copy()
        else:
            counts = m_step_counts(offsets, codes, resp_experts, layout.n_codes, n_chunks)
            sets[name] = is_expert | (_dependence_pvalues(counts, layout) < refine_alpha)
    return sets


def _refine_em(offsets, codes, layout, resp0, m_step, penalty, clamp, max_iter, tol, mask):
    """EM from ``resp0`` with the E-step on the value codes in ``mask`` (None: all); samples
    with no value in ``mask`` get their all-feature posterior. Returns (EMFit, posteriors)."""
    fit = run_em(
        offsets, codes, layout.n_codes, resp0, m_step,
        penalty, max_iter=max_iter, tol=tol, clamp=clamp, e_step_rows=mask,
    )
    resp = fit.resp
    if mask is not None:
        n = len(offsets) - 1
        sample = np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets))
        uncovered = np.bincount(sample[mask[codes]], minlength=n) == 0
        if uncovered.any():
            full_resp, _ = posterior(offsets, codes, fit.log_params, fit.log_weights)
            resp = resp.copy()
            resp[uncovered] = full_resp[uncovered]
    return fit, resp


def refine_heldout_scores(
    offsets: np.ndarray,
    codes: np.ndarray,
    layout: FeatureLayout,
    sets: dict[str, np.ndarray],
    resp0: np.ndarray,
    m_step: MStep,
    penalty: Callable[[np.ndarray, np.ndarray], float],
    *,
    clamp: np.ndarray | None = None,
    max_iter: int = 100,
    tol: float = 1e-4,
    n_folds: int = 4,
    random_state: Any = 0,
) -> np.ndarray:
    """Held-out log-likelihood of every observed value under each candidate refinement.

    The observed values (crowd: answers) are split at random into ``n_folds`` folds, as in
    :func:`crowdmix.experts.heldout_loglik`. For each fold and each candidate E-step set, the
    refinement runs on the other folds from the stagewise posteriors ``resp0`` and every
    held-out value ``a`` of feature ``i`` in sample ``s`` is scored by
    ``log sum_k q_s(k) C_i(a | k)`` (the sample's fitted posterior times the feature's fitted
    column). No labels are used.

    Parameters
    ----------
    offsets, codes, layout
        Encoded samples (see :func:`stagewise_fit`).
    sets : dict name -> bool array (n_features,)
        Candidate E-step feature sets.
    resp0 : ndarray (n, c)
        Starting posteriors (the stagewise expert-only posteriors).
    m_step, penalty
        M-step and objective penalty of the refinement.
    clamp, max_iter, tol
        As in the refinement.
    n_folds : int, default=4
    random_state : int, Generator or None, default=0
        Seed of the fold split.

    Returns
    -------
    ndarray (len(sets), n_values)
        Rows in the order of ``sets``; every value is held out exactly once, so rows can be
        compared by paired differences (:func:`crowdmix.experts.heldout_choice`).

    Examples
    --------
    >>> import numpy as np
    >>> from crowdmix.em import FeatureLayout, dirichlet_penalty
    >>> from crowdmix.stagewise import crowd_m_step
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 200)
    >>> x = np.where(rng.random((200, 6)) < 0.8, y[:, None], 1 - y[:, None])
    >>> offsets, codes = np.arange(0, 1201, 6), (x + 2 * np.arange(6)).ravel()
    >>> layout = FeatureLayout.uniform(6, 2)
    >>> sets = {"two": np.arange(6) < 2, "all": np.ones(6, bool)}
    >>> resp0 = np.eye(2)[y] * 0.6 + 0.2
    >>> s = refine_heldout_scores(offsets, codes, layout, sets, resp0, crowd_m_step(6, 2, 0.1),
    ...                           lambda lp, lw: dirichlet_penalty(lp, lw, 0.1))
    >>> s.shape, bool(s[1].mean() > s[0].mean())     # six reliable features beat two
    ((2, 1200), True)
    """
    from scipy.special import logsumexp

    offsets = np.asarray(offsets, dtype=np.int64)
    codes = np.asarray(codes, dtype=np.int64)
    n = len(offsets) - 1
    sample = np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets))
    rng = np.random.default_rng(random_state)
    fold = rng.integers(n_folds, size=len(codes))
    names = list(sets)
    masks = [None if sets[nm].all() else layout.code_mask(np.flatnonzero(sets[nm])) for nm in names]
    out = np.empty((len(names), len(codes)))
    for f in range(n_folds):
        held = fold == f
        keep = ~held
        train_offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(sample[keep], minlength=n), out=train_offsets[1:])
        train_codes = codes[keep]
        h_sample, h_code = sample[held], codes[held]
        for g, mask in enumerate(masks):
            fit, resp = _refine_em(
                train_offsets, train_codes, layout, resp0, m_step, penalty, clamp, max_iter,
                tol, mask,
            )
            with np.errstate(divide="ignore"):
                logq = np.log(resp[h_sample])
            out[g, held] = logsumexp(logq + fit.log_params[h_code], axis=1)
    return out


def _choose_refine_set(offsets, codes, layout, sets, resp0, m_step, penalty, clamp, max_iter,
                       tol, n_folds, random_state) -> tuple[str, pd.DataFrame]:
    """``refine_features="auto"``: the candidate set chosen by held-out log-likelihood."""
    from .experts import heldout_choice

    # identical sets are one candidate (keep the larger name: "all" before "informative" ...)
    unique: dict[str, np.ndarray] = {}
    for name, mask in sets.items():
        for other in [o for o, m in unique.items() if np.array_equal(m, mask)]:
            del unique[other]
        unique[name] = mask
    names = list(unique)
    table = pd.DataFrame(
        {"n_features": [int(unique[nm].sum()) for nm in names]}, index=pd.Index(names, name="candidate")
    )
    if len(names) == 1:
        table["heldout"] = np.nan
        table["heldout_se"] = np.nan
        table["chosen"] = True
        return names[0], table
    scores = refine_heldout_scores(
        offsets, codes, layout, unique, resp0, m_step, penalty, clamp=clamp, max_iter=max_iter,
        tol=tol, n_folds=n_folds, random_state=random_state,
    )
    idx, se = heldout_choice(scores)
    table["heldout"] = scores.mean(axis=1)
    table["heldout_se"] = se
    table["chosen"] = np.arange(len(names)) == idx
    return names[idx], table


def _dependence_pvalues(counts: np.ndarray, layout: FeatureLayout) -> np.ndarray:
    """Per feature, the p-value of the G-test of independence between its value and the
    component, from expected counts ``N[(i, a), k]`` (shape (n_codes, c))."""
    from scipy.stats import chi2

    c = counts.shape[1]
    start = layout.start[:-1]
    row = counts.sum(axis=1)
    col = np.add.reduceat(counts, start, axis=0)  # (m, c)
    tot = col.sum(axis=1)
    fcode = layout.feature_of_code
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = row[:, None] * col[fcode] / tot[fcode][:, None]
        terms = np.where(counts > 0, counts * np.log(counts / expected), 0.0)
    g = 2.0 * np.add.reduceat(terms, start, axis=0).sum(axis=1)
    dof = (layout.sizes - 1) * (c - 1)
    p = chi2.sf(np.maximum(g, 0.0), np.maximum(dof, 1))
    return np.where(tot > 0, p, 1.0)


def _complete(log_params, row_mask, m_step, offsets, codes, resp, n_codes, n_chunks):
    """The non-experts' rows M-stepped from the current posteriors (partial M-step mode)."""
    lp, _ = m_step(m_step_counts(offsets, codes, resp, n_codes, n_chunks), resp.sum(0))
    return np.where(row_mask[:, None], log_params, lp)


# --------------------------------------------------------------------------------------------
# Crowdsourcing helpers and the estimator
# --------------------------------------------------------------------------------------------


def _expert_alignment(ans: CrowdAnswers, clamp: np.ndarray | None = None):
    """Alignment of components to classes without truth: Hungarian matching of the posteriors to
    the soft majority vote of the *experts* (far more informative than the whole crowd's when
    experts are sparse; samples without expert answers contribute uniformly). With known labels
    (``clamp``), match to those instead."""

    def align(resp: np.ndarray, experts: np.ndarray) -> np.ndarray:
        if clamp is not None and (clamp >= 0).any():
            from scipy.optimize import linear_sum_assignment

            known = np.flatnonzero(clamp >= 0)
            onehot = np.zeros((len(known), resp.shape[1]))
            onehot[np.arange(len(known)), clamp[known]] = 1.0
            rows, cols = linear_sum_assignment(-(resp[known].T @ onehot))
            perm = np.empty(len(cols), dtype=np.int64)
            perm[cols] = rows
            return perm
        sub = ans.subset_workers(experts) if len(experts) else ans
        return align_to_majority(resp, sub)

    return align


def stagewise_crowd_posteriors(
    answers: CrowdAnswers, confusion: str = "full", smoothing: float = 0.1, **options: Any
) -> np.ndarray:
    """Expert-only stagewise posteriors of crowd answers, columns in class order.

    The initialiser behind ``DawidSkene(init="stagewise")``: :func:`stagewise_fit` without
    refinement, with ``c = K`` components matched to classes by the experts' majority vote.

    Parameters
    ----------
    answers : CrowdAnswers
    confusion : {"full", "diagonal", "one_coin"}
    smoothing : float
    **options
        Further keyword arguments of :func:`stagewise_fit`.

    Returns
    -------
    ndarray (n_tasks, n_classes)

    Examples
    --------
    >>> from crowdmix import as_answers
    >>> from crowdmix.datasets import make_sparse_expert_crowd
    >>> crowd = make_sparse_expert_crowd(n_tasks=300, n_workers=30, n_experts=4, random_state=1)
    >>> q = stagewise_crowd_posteriors(as_answers(crowd.answers))
    >>> q.shape
    (300, 2)
    """
    m, k = answers.n_workers, answers.n_classes
    options.setdefault("refine", False)
    res = stagewise_fit(
        answers.offsets, answers.value_codes, FeatureLayout.uniform(m, k), k,
        m_step=crowd_m_step(m, k, smoothing, confusion), smoothing=smoothing,
        align=_expert_alignment(answers), **options,
    )
    return res.resp


def _encoded_input(data: Any):
    """``(offsets, codes, layout)`` if ``data`` is a FeatureLayout-encoded sample set, else None."""
    if isinstance(data, CrowdAnswers):
        return None
    if isinstance(data, tuple) and len(data) == 3 and isinstance(data[2], FeatureLayout):
        return np.asarray(data[0], dtype=np.int64), np.asarray(data[1], dtype=np.int64), data[2]
    if all(hasattr(data, a) for a in ("offsets", "codes", "layout")) and isinstance(
        data.layout, FeatureLayout
    ):
        return np.asarray(data.offsets, dtype=np.int64), np.asarray(data.codes, dtype=np.int64), data.layout
    return None


def _check_encoded(offsets: np.ndarray, codes: np.ndarray, layout: FeatureLayout) -> None:
    if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or np.any(np.diff(offsets) < 0):
        raise InputError("offsets must be a non-decreasing 1-D int array starting at 0")
    if offsets[-1] != len(codes):
        raise InputError(f"offsets[-1]={int(offsets[-1])} must equal the number of codes ({len(codes)})")
    if len(codes) and (codes.min() < 0 or codes.max() >= layout.n_codes):
        bad = int(codes[(codes < 0) | (codes >= layout.n_codes)][0])
        raise InputError(f"code {bad} is outside the layout's 0..{layout.n_codes - 1}")
    if np.any(layout.sizes < 2):
        i = int(np.flatnonzero(layout.sizes < 2)[0])
        raise InputError(f"feature {i} has an alphabet of size {int(layout.sizes[i])}; need >= 2")
    feats = layout.feature_of_code[codes]
    sample = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    key = sample.astype(np.int64) * layout.n_features + feats
    if len(key) and np.unique(key).size != len(key):
        raise InputError("a sample has two values of the same feature; each feature at most once")


class StagewiseEM(BaseAggregator):
    """Stagewise, expert-driven EM (Zhao & Zucker): grow from one class as experts emerge.

    Starts from a single component and no experts; at each stage the pair of features (workers)
    with the largest residual mutual information within a component joins the expert set and,
    while there are fewer than ``c`` components, that component is split along the pair's most
    negative curvature. Each stage runs one EM step whose E-step uses the experts only. Finally
    EM with all features refines the result. See :mod:`crowdmix.stagewise` and ALGORITHMS.md §3.

    Crowdsourcing (``fit(answers)`` with anything :func:`crowdmix.as_answers` accepts): ``c = K``
    classes, the M-step is Dawid-Skene's (``confusion``), and components are matched to classes
    without truth by the experts' majority vote. General discrete mixtures
    (``fit((offsets, codes, layout))`` with a :class:`crowdmix.em.FeatureLayout`, any alphabet
    sizes): ``n_components`` components with free columns.

    Parameters
    ----------
    n_components : int or None, default=None
        Number of components; crowdsourcing uses the number of classes (None or equal to it).
    confusion : {"full", "diagonal", "one_coin"}, default="full"
        Worker model for crowd answers (ignored for general data).
    weighted : {True, "mass", False}, default=True
        Select pairs by ``w_k I_k(i, j)`` (True), by ``(N_k(i, j) / n) I_k(i, j)`` ("mass": the
        share of samples in component ``k`` where both workers answered; equals ``w_k I_k`` for
        complete data) or by ``I_k(i, j)`` (False). See docs/stagewise.md for measurements.
    partial_m_step : bool, default=False
        During the stages update only the experts' parameters.
    split : {"auto", "hessian", "binary"}, default="auto"
        Split direction rule (see :func:`stagewise_fit`).
    delta : float, default=0.05
        Probability mass moved by a split.
    tol : float, default=1e-3
        Stop the stages when the per-sample all-feature log-likelihood gains less than this ...
    min_steps : int, default=5
        ... after at least this many stages.
    max_steps : int, default=30
        Maximum number of stages.
    min_overlap : int, default=1
        Minimum number of samples two features must share to be a candidate pair.
    bias_correction : bool, default=False
        Miller-Madow correction of the residual MI before selecting pairs.
    split_merge : bool, default=True
        Once there are ``c`` components, also try at every stage to merge the two components
        the experts tell apart least and split the selected one; keep the move if it raises the all-feature
        log-likelihood (see :func:`stagewise_fit`). Repairs two classes left in one component
        by the early splits (K = 5 sparse-expert study, docs/stagewise.md).
    refine : bool, default=True
        Refine with EM at the end; the expert-only result is kept in ``proba_experts_``.
    refine_features : {"auto", "all", "informative", "experts"}, default="auto"
        Workers (features) in the refinement's E-step (see :func:`stagewise_fit`): all of them
        (the paper's ordinary EM), the experts plus every worker significantly dependent on the
        stagewise classes, the experts only, or (``"auto"``) the one of these three that best
        predicts held-out answers (K-fold held-out log-likelihood, no truth; all workers
        unless a smaller set is better by more than two standard errors). ``"auto"`` matched
        the best fixed choice on both the real benchmarks (where it keeps all workers) and
        the sparse-expert study (where it keeps the informative workers); docs/stagewise.md.
    refine_alpha : float, default=0.01
        Significance level of ``refine_features="informative"``.
    refine_max_iter : int, default=100
    refine_tol : float, default=1e-4
        Per-sample tolerance of the refinement (DawidSkene's default).
    refine_folds : int, default=4
        Folds of the held-out choice of ``refine_features="auto"``.
    smoothing : float, default=0.1
        Dirichlet pseudo-count of every M-step.
    random_state : int, Generator or None, default=0
        Seed of the fold split of ``refine_features="auto"`` (the only randomness).
    verbose : int, default=0
        If positive, print every stage to stderr.

    Attributes
    ----------
    classes_ : pandas.Index
        Class labels (crowd) or ``0 .. c-1`` (general data).
    labels_, proba_ : Series/DataFrame (crowd) or ndarray (general)
        Final (refined, if ``refine``) labels and posteriors.
    labels_experts_, proba_experts_ :
        The same from the expert-only E-step at the end of the stages.
    experts_ : pandas.Index (crowd: worker IDs) or ndarray (general: feature indices)
        Expert set in order of entry.
    history_ : pandas.DataFrame
        One row per stage: the pair (worker IDs / features), component, new experts, whether
        the component was split, number of components, residual MI, score, log-likelihood.
    class_prior_ : Series (crowd) or ndarray
    confusion_, confusion_array_, skills_, worker_summary_ : crowd only, as in :class:`crowdmix.DawidSkene`.
    log_params_, log_weights_ : ndarray
        Final parameters (``log C_i(a|k)`` rows in layout order, ``log w_k``).
    log_likelihood_ : ndarray
        Per-sample penalised log-likelihood of every refinement iteration (never decreases).
    stop_reason_ : str
    refine_choice_ : str or None
        The refinement's E-step set ("all", "informative" or "experts"; None without
        refinement).
    refine_table_ : DataFrame or None
        ``refine_features="auto"``: per candidate set, number of workers (``n_features``),
        mean held-out log-likelihood per answer, its standard error and which was chosen.
    result_ : StagewiseResult
        Everything :func:`stagewise_fit` returned.

    References
    ----------
    Zhao, V. and Zucker, S. W. (2015). Stagewise learning for sparse clustering of
    discretely-valued data. arXiv:1506.02975.

    Examples
    --------
    >>> from crowdmix.stagewise import StagewiseEM
    >>> from crowdmix.datasets import make_sparse_expert_crowd
    >>> crowd = make_sparse_expert_crowd(n_tasks=500, n_workers=50, n_experts=5, random_state=0)
    >>> sw = StagewiseEM().fit(crowd.answers)
    >>> bool((sw.labels_ == crowd.truth.loc[sw.labels_.index]).mean() > 0.85)
    True
    >>> all(w in sw.experts_ for w in sw.history_.loc[0, ["first", "second"]])
    True
    """

    def __init__(
        self,
        n_components: int | None = None,
        confusion: str = "full",
        weighted: bool | str = True,
        partial_m_step: bool = False,
        split: str = "auto",
        delta: float = 0.05,
        tol: float = 1e-3,
        min_steps: int = 5,
        max_steps: int = 30,
        min_overlap: int = 1,
        bias_correction: bool = False,
        split_merge: bool = True,
        refine: bool = True,
        refine_features: str = "auto",
        refine_alpha: float = 0.01,
        refine_max_iter: int = 100,
        refine_tol: float = 1e-4,
        refine_folds: int = 4,
        smoothing: float = 0.1,
        random_state: Any = 0,
        verbose: int = 0,
    ):
        self.n_components = n_components
        self.confusion = confusion
        self.weighted = weighted
        self.partial_m_step = partial_m_step
        self.split = split
        self.delta = delta
        self.tol = tol
        self.min_steps = min_steps
        self.max_steps = max_steps
        self.min_overlap = min_overlap
        self.bias_correction = bias_correction
        self.split_merge = split_merge
        self.refine = refine
        self.refine_features = refine_features
        self.refine_alpha = refine_alpha
        self.refine_max_iter = refine_max_iter
        self.refine_tol = refine_tol
        self.refine_folds = refine_folds
        self.smoothing = smoothing
        self.random_state = random_state
        self.verbose = verbose

    def _options(self) -> dict:
        if not self.smoothing >= 0:
            raise InputError(f"smoothing must be >= 0, got {self.smoothing!r}")
        if not (isinstance(self.refine_max_iter, (int, np.integer)) and self.refine_max_iter >= 1):
            raise InputError(f"refine_max_iter must be a positive integer, got {self.refine_max_iter!r}")
        if not self.refine_tol >= 0:
            raise InputError(f"refine_tol must be >= 0, got {self.refine_tol!r}")
        return dict(
            smoothing=self.smoothing, weighted=self.weighted,
            partial_m_step=bool(self.partial_m_step), split=self.split, delta=self.delta,
            tol=self.tol, min_steps=self.min_steps, max_steps=self.max_steps,
            min_overlap=self.min_overlap, bias_correction=bool(self.bias_correction),
            split_merge=bool(self.split_merge), refine=bool(self.refine), refine_features=self.refine_features,
            refine_alpha=self.refine_alpha, refine_max_iter=self.refine_max_iter,
            refine_tol=self.refine_tol, refine_folds=self.refine_folds,
            random_state=self.random_state, callback=self._progress() if self.verbose else None,
        )

    def _progress(self):
        start = time.perf_counter()

        def report(r: StageRecord) -> None:
            print(
                f"{type(self).__name__}: stage {r.step}, pair {r.pair}, component {r.component}"
                f"{' split' if r.split else ''}, residual MI {r.residual_mi:.4f}, "
                f"log-likelihood per sample {r.log_likelihood:.6f} "
                f"({time.perf_counter() - start:.1f} s)",
                file=sys.stderr,
            )

        return report

    def fit(self, answers: Any, true_labels: Any = None) -> StagewiseEM:
        """Fit by stagewise EM (then refinement).

        Parameters
        ----------
        answers : DataFrame, array, CrowdAnswers or (offsets, codes, FeatureLayout)
            Crowd answers in any format :func:`crowdmix.as_answers` accepts, or encoded general
            discrete data.
        true_labels : Series or mapping task -> label, optional
            Crowd only: known labels of some tasks; they fix the matching of components to
            classes and are clamped during the refinement.

        Returns
        -------
        self
        """
        options = self._options()
        encoded = _encoded_input(answers)
        if encoded is not None:
            if true_labels is not None:
                raise InputError("true_labels is only supported for crowd answers")
            return self._fit_general(*encoded, options)
        check_confusion(self.confusion)
        ans = self._encode(answers)
        k = ans.n_classes
        if self.n_components is not None and self.n_components != k:
            raise InputError(
                f"n_components={self.n_components!r} but the answers have {k} classes; crowd "
                f"answers need one component per class (leave n_components=None)"
            )
        if k < 2:
            raise InputError(f"the answers have a single class {list(ans.classes)!r}; need >= 2")
        clamp = clamp_codes(ans, true_labels)
        m = ans.n_workers
        res = stagewise_fit(
            ans.offsets, ans.value_codes, FeatureLayout.uniform(m, k), k,
            m_step=crowd_m_step(m, k, self.smoothing, self.confusion),
            align=_expert_alignment(ans, clamp), clamp=clamp, **options,
        )
        self._finish_crowd(ans, res)
        return self

    def _warn_refine(self, res: StagewiseResult) -> None:
        if res.resp_refined is not None and not res.refine_converged:
            warnings.warn(
                f"{type(self).__name__}: the refinement did not converge in "
                f"refine_max_iter={self.refine_max_iter} iterations; raise refine_max_iter or "
                f"refine_tol",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _finish_common(self, res: StagewiseResult, layout: FeatureLayout) -> None:
        self._warn_refine(res)
        # the features of the final E-step, so that predict() reproduces labels_
        if res.resp_refined is None:
            self._e_rows = layout.code_mask(res.experts)
        elif len(res.refine_set) < layout.n_features:
            self._e_rows = layout.code_mask(res.refine_set)
        else:
            self._e_rows = None
        self.result_ = res
        self.log_params_ = res.log_params
        self.log_weights_ = res.log_weights
        self.log_likelihood_ = res.refine_history
        self.stop_reason_ = res.stop_reason
        self.n_stages_ = res.n_stages
        self.refine_choice_ = res.refine_choice
        self.refine_table_ = res.refine_table

    def _finish_crowd(self, ans: CrowdAnswers, res: StagewiseResult) -> None:
        self._finish_common(res, FeatureLayout.uniform(ans.n_workers, ans.n_classes))
        m, k = ans.n_workers, ans.n_classes
        self._store(ans, res.resp, np.argmax(res.resp, axis=1))
        self.proba_experts_ = proba_frame(ans.tasks, ans.classes, res.resp_experts)
        self.labels_experts_ = labels_series(ans.tasks, ans.classes, np.argmax(res.resp_experts, axis=1))
        self.workers_ = pd.Index(ans.workers, name="worker")
        self.experts_ = pd.Index(ans.workers.take(res.experts), name="worker")
        hist = res.history_frame()
        hist["first"] = ans.workers.take(hist["first"].to_numpy(dtype=np.int64))
        hist["second"] = ans.workers.take(hist["second"].to_numpy(dtype=np.int64))
        hist["new_experts"] = [list(ans.workers.take(v)) for v in hist["new_experts"]]
        self.history_ = hist
        prior = np.exp(res.log_weights)
        conf = np.exp(res.log_params).reshape(m, k, k)
        self.class_prior_ = pd.Series(prior, index=self.classes_, name="prior")
        self.confusion_array_ = conf
        self.confusion_ = confusion_frame(conf, ans.workers, ans.classes)
        self.worker_summary_ = worker_summary(
            conf, prior, ans.answers_per_worker, self.workers_, ans.classes
        )
        self.skills_ = self.worker_summary_["accuracy"].rename("skill")

    def _fit_general(self, offsets, codes, layout: FeatureLayout, options: dict) -> StagewiseEM:
        c = self.n_components
        if not (isinstance(c, (int, np.integer)) and c >= 1):
            raise InputError(f"general discrete data need n_components (a positive integer), got {c!r}")
        _check_encoded(offsets, codes, layout)
        res = stagewise_fit(offsets, codes, layout, int(c), **options)
        self._finish_common(res, layout)
        self._layout = layout
        self.classes_ = np.arange(int(c))
        self.n_samples_ = len(offsets) - 1
        self.proba_ = res.resp
        self.labels_ = np.argmax(res.resp, axis=1)
        self.proba_experts_ = res.resp_experts
        self.labels_experts_ = np.argmax(res.resp_experts, axis=1)
        self.experts_ = res.experts
        self.history_ = res.history_frame()
        self.class_prior_ = np.exp(res.log_weights)
        return self

    # ------------------------------------------------------------------ prediction
    def _posterior_new(self, data: Any):
        self._check_fitted()
        encoded = _encoded_input(data)
        if hasattr(self, "_layout"):
            if encoded is None:
                raise InputError("this model was fitted on encoded data; pass (offsets, codes, layout)")
            offsets, codes, layout = encoded
            if not np.array_equal(layout.start, self._layout.start):
                raise InputError("the layout differs from the one used in fit")
            _check_encoded(offsets, codes, layout)
            return None, self._final_posterior(offsets, codes)
        new = encode_for_workers(data, self.workers_, self.classes_)
        return new, self._final_posterior(new.offsets, new.value_codes)

    def _final_posterior(self, offsets: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """E-step on the features the fit's final E-step used; samples with none of them get
        the all-feature posterior (as in :func:`stagewise_fit`)."""
        full, _ = posterior(offsets, codes, self.log_params_, self.log_weights_)
        if self._e_rows is None:
            return full
        resp, _ = posterior(offsets, codes, self.log_params_, self.log_weights_, self._e_rows)
        sample = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
        uncovered = np.bincount(sample[self._e_rows[codes]], minlength=len(offsets) - 1) == 0
        resp[uncovered] = full[uncovered]
        return resp

    def predict_proba(self, answers: Any):
        """Class probabilities of new samples (crowd: tasks answered by workers seen in ``fit``)."""
        new, resp = self._posterior_new(answers)
        return resp if new is None else proba_frame(new.tasks, new.classes, resp)

    def predict(self, answers: Any):
        """Most probable class of new samples."""
        new, resp = self._posterior_new(answers)
        labels = np.argmax(resp, axis=1)
        return labels if new is None else labels_series(new.tasks, new.classes, labels)
