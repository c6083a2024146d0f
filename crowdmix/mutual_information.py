"""Rank annotators by pairwise mutual information, without ground truth (Zhao & Zucker, method B).

Under the Dawid-Skene model two workers are dependent only through the hidden class, so a
reliable worker shares information with every other reliable worker and a spammer shares none.
The mutual information ``S_ij`` of every pair of workers, computed on the tasks both answered,
and the score ``sigma_i = sum_j S_ij`` rank workers by reliability (ALGORITHMS.md §2). For
one-coin workers under a uniform prior, ``I(X_i; X_j) = g_K(s_i s_j)`` with
``s_i = (K p_i - 1) / (K - 1)`` (:func:`one_coin_mutual_information`): the score orders workers
exactly by accuracy and is 0 for random guessers.

:func:`rank_workers` also computes ``pooled_mi``, the MI of each worker with all its
co-labellers pooled into one joint table (many more samples than any pair), and ``skill``, the
worker's one-coin skill ``s_i`` recovered from the pooled MI through the closed form ``g_K``
and the partners' skills (:func:`one_coin_skills`); ``skill`` orders workers by accuracy best
and is the default order of :func:`rank_workers`. Experts for :class:`crowdmix.DawidSkene` are
cut from the authors' sum (see :mod:`crowdmix.experts`).

The joint tables are accumulated by a numba kernel straight from the encoded answers, for
pairs ``i < j`` only (:func:`crowdmix.kernels.pairwise_mi.pairwise_mi_answers`): the cost
grows with the number of co-labelled answer pairs, not with workers squared, and no dense
tasks x workers x labels tensor is ever built.

Small overlaps. The plug-in MI of a pair that shares ``n`` tasks is biased upwards by about
``(K - 1)^2 / (2 n)`` even for independent workers, so workers with many small-overlap partners
collect noise. Three treatments are offered (``correction``, ``min_overlap``, ``weighting``);
the defaults were chosen by measurement on the five public benchmarks and synthetic crowds
(docs/worker-ranking.md).

References
----------
Zhao, V. and Zucker, S. W. (2017). Feature selection facilitates learning mixtures of discrete
product distributions. arXiv:1711.09195.
Miller, G. A. (1955). Note on the bias of information estimates.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .answers import CrowdAnswers, as_answers
from .em import FeatureLayout
from .exceptions import ConvergenceWarning, InputError
from .kernels.cooccurrence import cooccurrence
from .kernels.pairwise_mi import (
    default_chunks,
    pairwise_mi_answers,
    pairwise_mi_missing_category,
    threads_for,
    work_bounds,
)

__all__ = [
    "PairwiseMI",
    "pairwise_mi_table",
    "pairwise_mutual_information",
    "rank_workers",
    "one_coin_mutual_information",
    "one_coin_skills",
    "g_k",
    "g_k_inverse",
]

Correction = Literal["none", "miller-madow"]
Missing = Literal["skip", "category"]
Weighting = Literal["none", "overlap"]
Score = Literal["skill", "pooled", "sum"]
_SCORES = ("skill", "pooled", "sum")
_CORRECTIONS = ("none", "miller-madow")
_MISSING = ("skip", "category")
_WEIGHTINGS = ("none", "overlap")


def g_k(t: np.ndarray | float, k: int) -> np.ndarray:
    """``g_K(t)``: mutual information of two one-coin workers with ``s_i s_j = t`` (nats).

    ``g_K(t) = ((1 + (K-1) t)/K) log(1 + (K-1) t) + ((K-1)/K)(1 - t) log(1 - t)``, for
    ``-1/(K-1) <= t <= 1`` (ALGORITHMS.md §2), increasing for ``t > 0`` and ``g_K(0) = 0``.

    Examples
    --------
    >>> round(float(g_k(1.0, 2)), 6)   # two perfect binary workers share log 2 nats
    0.693147
    """
    t = np.asarray(t, dtype=float)
    a = 1.0 + (k - 1) * t
    b = 1.0 - t
    with np.errstate(divide="ignore", invalid="ignore"):
        la = np.where(a > 0, a * np.log(np.where(a > 0, a, 1.0)), 0.0)
        lb = np.where(b > 0, b * np.log(np.where(b > 0, b, 1.0)), 0.0)
    return la / k + (k - 1) / k * lb


def g_k_inverse(y: np.ndarray | float, k: int, negative: bool | np.ndarray = False) -> np.ndarray:
    """Inverse of :func:`g_k`: the ``t = s_i s_j`` whose one-coin mutual information is ``y``.

    ``g_K`` is increasing on ``[0, 1]`` (from 0 to ``log K``) and decreasing on
    ``[-1/(K-1), 0]`` (from ``log(K/(K-1))`` to 0), so each branch has an inverse; ``negative``
    (a bool or a bool array like ``y``) picks the branch. ``y`` beyond the branch's range is
    clipped to its end. Vectorised bisection to machine precision.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([0.0, 0.3, 0.9])
    >>> bool(np.allclose(g_k_inverse(g_k(t, 3), 3), t))
    True
    >>> round(float(g_k_inverse(g_k(-0.2, 3), 3, negative=True)), 12)
    -0.2
    """
    y = np.asarray(y, dtype=float)
    neg = np.broadcast_to(np.asarray(negative, dtype=bool), y.shape)
    hi = np.where(neg, 1.0 / (k - 1), 1.0)  # search u = |t| in [0, hi]
    sign = np.where(neg, -1.0, 1.0)
    y = np.clip(y, 0.0, g_k(sign * hi, k))
    lo = np.zeros_like(y)
    hi = hi.copy()
    for _ in range(52):  # g_K(sign * u) is increasing in u on both branches (2^-52 ~ 2e-16)
        mid = 0.5 * (lo + hi)
        below = g_k(sign * mid, k) < y
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return sign * 0.5 * (lo + hi)


def one_coin_mutual_information(accuracies: np.ndarray, k: int) -> np.ndarray:
    """Exact pairwise MI of one-coin workers under a uniform prior: ``g_K(s_i s_j)``.

    ``s_i = (K p_i - 1) / (K - 1)``; the diagonal is 0 as in :func:`pairwise_mutual_information`.

    Examples
    --------
    >>> import numpy as np
    >>> mi = one_coin_mutual_information(np.array([0.5, 0.9, 0.9]), 2)
    >>> bool(mi[0, 1] == 0.0 and mi[1, 2] > 0.2)
    True
    """
    p = np.asarray(accuracies, dtype=float)
    s = (k * p - 1.0) / (k - 1.0)
    out = g_k(np.outer(s, s), k)
    np.fill_diagonal(out, 0.0)
    return out


@dataclass(frozen=True)
class PairwiseMI:
    """Pairwise statistics of the workers of one :class:`~crowdmix.CrowdAnswers`.

    One entry per unordered pair ``i < j`` that co-labelled at least one task (flat arrays,
    the cheap form for ranking); :attr:`mi`, :attr:`overlap`, :attr:`bias` and
    :meth:`matrix` give symmetric ``scipy.sparse.csr_matrix`` of shape (n_workers, n_workers)
    indexed by worker code.

    Attributes
    ----------
    rows, cols : int64 ndarray
        Worker codes ``i < j`` of each pair.
    mi_values : ndarray
        Plug-in mutual information ``S_ij`` (nats) on the tasks both answered.
    overlap_values : ndarray
        Number (or weight) of tasks both answered, ``n_ij``.
    bias_values : ndarray
        Miller-Madow bias estimate ``(R_ab - R_a - R_b + 1) / (2 n_ij)``.
    workers : pandas.Index
        The user's worker IDs (code ``c`` is ``workers[c]``).
    """

    rows: np.ndarray
    cols: np.ndarray
    mi_values: np.ndarray
    overlap_values: np.ndarray
    bias_values: np.ndarray
    workers: pd.Index

    @property
    def n_workers(self) -> int:
        return len(self.workers)

    def matrix(self, values: np.ndarray) -> sp.csr_matrix:
        """Symmetric sparse matrix with ``values`` (one per pair) at (i, j) and (j, i)."""
        m = self.n_workers
        mat = sp.coo_matrix(
            (np.concatenate([values, values]),
             (np.concatenate([self.rows, self.cols]), np.concatenate([self.cols, self.rows]))),
            shape=(m, m),
        ).tocsr()
        mat.sort_indices()
        return mat

    @property
    def mi(self) -> sp.csr_matrix:
        return self.matrix(self.mi_values)

    @property
    def overlap(self) -> sp.csr_matrix:
        return self.matrix(self.overlap_values)

    @property
    def bias(self) -> sp.csr_matrix:
        return self.matrix(self.bias_values)

    def row_sums(self, values: np.ndarray) -> np.ndarray:
        """``sum_j value_ij`` for every worker (both sides of each pair)."""
        m = self.n_workers
        return np.bincount(self.rows, values, minlength=m) + np.bincount(self.cols, values, minlength=m)

    def n_partners(self) -> np.ndarray:
        """Number of workers each worker co-labelled at least one task with."""
        m = self.n_workers
        return np.bincount(self.rows, minlength=m) + np.bincount(self.cols, minlength=m)

    def corrected_values(
        self,
        correction: Correction = "miller-madow",
        min_overlap: int = 1,
        weighting: Weighting = "none",
        weight_scale: float = 10.0,
    ) -> np.ndarray:
        """The pair scores after the small-overlap treatment (one value per pair).

        ``correction="miller-madow"`` subtracts the bias term and clips at 0; ``min_overlap``
        zeroes pairs sharing fewer tasks; ``weighting="overlap"`` multiplies by
        ``n_ij / (n_ij + weight_scale)``.
        """
        _check_choice(correction, _CORRECTIONS, "correction")
        _check_choice(weighting, _WEIGHTINGS, "weighting")
        values = self.mi_values.copy()
        if correction == "miller-madow":
            values = np.maximum(values - self.bias_values, 0.0)
        n = self.overlap_values
        if min_overlap > 1:
            values[n < min_overlap] = 0.0
        if weighting == "overlap":
            values = values * (n / (n + float(weight_scale)))
        return values

    def corrected(self, *args: Any, **kwargs: Any) -> sp.csr_matrix:
        """:meth:`corrected_values` as a symmetric sparse matrix (explicit zeros removed)."""
        out = self.matrix(self.corrected_values(*args, **kwargs))
        out.eliminate_zeros()
        return out


def _check_choice(value: Any, choices: tuple[str, ...], name: str) -> None:
    if value not in choices:
        raise InputError(f"{name} must be one of {choices}, got {value!r}")


def _check_min_overlap(min_overlap: Any) -> int:
    if not (isinstance(min_overlap, (int, np.integer)) and min_overlap >= 1):
        raise InputError(f"min_overlap must be an integer >= 1, got {min_overlap!r}")
    return int(min_overlap)


def _pair_arrays(answers: CrowdAnswers, weights: np.ndarray | None = None):
    """Run the pairwise kernel on encoded answers: (ptr, partner, mi, overlap, bias)."""
    m, k = answers.n_workers, answers.n_classes
    worker = answers.worker
    by_worker_rows = np.argsort(worker, kind="stable").astype(np.int64)
    by_worker_ptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(answers.answers_per_worker, out=by_worker_ptr[1:])
    pairs = np.bincount(worker, weights=answers.answers_per_task[answers.task] - 1.0, minlength=m)
    cap_ptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.minimum(pairs.astype(np.int64), max(m - 1, 0)), out=cap_ptr[1:])
    w = np.ones(answers.n_tasks) if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
    if w.shape != (answers.n_tasks,):
        raise InputError(f"weights must have one value per task ({answers.n_tasks}), got shape {w.shape}")
    bounds = work_bounds(pairs)
    with threads_for(bounds):
        return pairwise_mi_answers(
            answers.offsets, worker, answers.label, answers.task, by_worker_ptr, by_worker_rows,
            w, cap_ptr, m, k, bounds,
        )


def pairwise_mi_table(answers: CrowdAnswers, weights: np.ndarray | None = None) -> PairwiseMI:
    """Plug-in MI, overlaps and bias terms of every co-labelling worker pair (sparse).

    Parameters
    ----------
    answers : CrowdAnswers
        Encoded answers.
    weights : ndarray (n_tasks,), optional
        Task weights (e.g. the posterior ``q_s(k)`` of one class, for conditional MI); counts
        become weighted counts.

    Returns
    -------
    PairwiseMI
    """
    m = answers.n_workers
    ptr, partner, mi, overlap, bias = _pair_arrays(answers, weights)
    rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(ptr))
    return PairwiseMI(rows, partner, mi, overlap, bias, pd.Index(answers.workers, name="worker"))


def _missing_category_matrix(answers: CrowdAnswers) -> np.ndarray:
    k, m = answers.n_classes, answers.n_workers
    layout = FeatureLayout.uniform(m, k)
    counts = cooccurrence(answers.offsets, answers.value_codes, layout.n_codes)
    counts.sort_indices()
    code_counts = np.bincount(answers.value_codes, minlength=layout.n_codes).astype(np.float64)
    return pairwise_mi_missing_category(
        counts.indptr.astype(np.int64), counts.indices.astype(np.int64), counts.data,
        layout.start, layout.feature_of_code.astype(np.int64), code_counts, float(answers.n_tasks), default_chunks(m),
    )


def pairwise_mutual_information(
    answers: Any,
    *,
    correction: Correction = "miller-madow",
    min_overlap: int = 1,
    weighting: Weighting = "none",
    missing: Missing = "skip",
    sparse: bool = False,
) -> pd.DataFrame:
    """Mutual information between every pair of workers, on the tasks both answered.

    ``S_ij = sum_{a,b} p(a,b) log(p(a,b) / (p_i(a) p_j(b)))`` over the joint table of the two
    workers' answers on their common tasks (ALGORITHMS.md §2), in nats; ``S_ii = 0`` and pairs
    that share no task have 0.

    Parameters
    ----------
    answers : DataFrame, array, path or CrowdAnswers
        Crowd answers in any format :func:`crowdmix.as_answers` accepts.
    correction : {"miller-madow", "none"}, default="miller-madow"
        Subtract the Miller-Madow bias ``(R_ab - R_a - R_b + 1) / (2 n_ij)`` of the plug-in
        estimate (clipped at 0), or keep the plug-in value.
    min_overlap : int, default=1
        Pairs that co-labelled fewer tasks get 0.
    weighting : {"none", "overlap"}, default="none"
        ``"overlap"`` shrinks each pair's MI by ``n_ij / (n_ij + 10)``.
    missing : {"skip", "category"}, default="skip"
        ``"skip"``: joint tables over the tasks both answered (recommended). ``"category"``:
        the authors' first variant, "missing" as one more answer over all tasks (dense, O(m^2);
        rewards workers who skip the same tasks). The small-overlap options do not apply to it.
    sparse : bool, default=False
        Return a DataFrame with sparse columns (``pd.SparseDtype``), for many workers.

    Returns
    -------
    DataFrame (n_workers, n_workers)
        Index and columns are the user's worker IDs.

    References
    ----------
    Zhao, V. and Zucker, S. W. (2017). Feature selection facilitates learning mixtures of
    discrete product distributions. arXiv:1711.09195.

    Examples
    --------
    >>> from crowdmix.mutual_information import pairwise_mutual_information
    >>> from crowdmix.datasets import make_one_coin_crowd
    >>> crowd = make_one_coin_crowd(n_tasks=300, n_workers=6, answers_per_task=None,
    ...                             accuracies=[0.5, 0.5, 0.9, 0.9, 0.95, 0.95], random_state=0)
    >>> mi = pairwise_mutual_information(crowd.answers)
    >>> bool(mi.loc["w03", "w04"] > 10 * mi.loc["w01", "w02"])
    True
    """
    ans = as_answers(answers)
    _check_choice(missing, _MISSING, "missing")
    workers = pd.Index(ans.workers, name="worker")
    if missing == "category":
        dense = _missing_category_matrix(ans)
        if sparse:
            return pd.DataFrame.sparse.from_spmatrix(sp.csr_matrix(dense), index=workers, columns=workers)
        return pd.DataFrame(dense, index=workers, columns=workers)
    table = pairwise_mi_table(ans)
    mat = table.corrected(correction, _check_min_overlap(min_overlap), weighting)
    if sparse:
        return pd.DataFrame.sparse.from_spmatrix(mat, index=workers, columns=workers)
    return pd.DataFrame(mat.toarray(), index=workers, columns=workers)


def pooled_tables(answers: CrowdAnswers, partner_weights: np.ndarray | None = None,
                  task_weights: np.ndarray | None = None) -> np.ndarray:
    """Each worker's joint answer table with all co-labellers pooled, shape (m, K, K).

    ``T_i(a, b) = sum_{j != i} w_j N_ij(a, b)``: the joint table of worker i's answer and the
    answer of a co-labeller of the same task, partners weighted by ``partner_weights`` (all
    ones by default) and tasks by ``task_weights`` (all ones by default; ``N_ij`` then counts
    weighted tasks). Computed from the weighted votes of every task, in O(answers x K).
    """
    k, m = answers.n_classes, answers.n_workers
    w = np.ones(m) if partner_weights is None else np.asarray(partner_weights, dtype=float)
    aw = w[answers.worker]
    flat = answers.task.astype(np.int64) * k + answers.label
    votes = np.bincount(flat, weights=aw, minlength=answers.n_tasks * k).reshape(-1, k)
    rows = votes[answers.task]  # weighted votes of the answer's task, shape (n_answers, K)
    rows[np.arange(answers.n_answers), answers.label] -= aw  # leave the worker itself out
    if task_weights is not None:
        rows *= np.asarray(task_weights, dtype=float)[answers.task][:, None]
    tables = np.empty((m * k, k))
    for b in range(k):
        tables[:, b] = np.bincount(answers.value_codes, weights=rows[:, b], minlength=m * k)
    return np.maximum(tables.reshape(m, k, k), 0.0)


#: largest number of (answer, co-answer) pairs for which :func:`pooled_operator` is built
POOLED_OPERATOR_MAX_PAIRS = 20_000_000


def pooled_operator(answers: CrowdAnswers, task_weights: np.ndarray | None = None
                    ) -> sp.csr_matrix | None:
    """The linear map ``w -> pooled_tables(answers, w).ravel()``, a sparse (m K^2, m) matrix.

    Entry ``(i K^2 + a K + b, j)`` is ``N_ij(a, b)``, the (task-weighted) number of tasks where
    worker i answered ``a`` and worker j answered ``b``. Built once with numpy from the
    co-labelled answer pairs, it makes each pooled table a sparse product (for iterations over
    partner weights). Returns ``None`` when there are more than
    ``POOLED_OPERATOR_MAX_PAIRS`` such pairs (dense crowds), where :func:`pooled_tables` is
    cheaper in memory.
    """
    k, m = answers.n_classes, answers.n_workers
    per_answer = answers.answers_per_task[answers.task].astype(np.int64)
    n_pairs = int(per_answer.sum())
    if n_pairs > POOLED_OPERATOR_MAX_PAIRS:
        return None
    a = np.repeat(np.arange(answers.n_answers, dtype=np.int64), per_answer)
    first = np.zeros(answers.n_answers, dtype=np.int64)
    np.cumsum(per_answer[:-1], out=first[1:])
    b = answers.offsets[answers.task[a]] + (np.arange(n_pairs, dtype=np.int64) - first[a])
    keep = b != a
    a, b = a[keep], b[keep]
    row = (answers.worker[a].astype(np.int64) * k + answers.label[a]) * k + answers.label[b]
    data = np.ones(len(a)) if task_weights is None else np.asarray(task_weights, float)[answers.task[a]]
    op = sp.csr_matrix((data, (row, answers.worker[b].astype(np.int64))), shape=(m * k * k, m))
    op.sum_duplicates()
    return op


def table_mutual_information(tables: np.ndarray, correction: Correction = "miller-madow"
                             ) -> tuple[np.ndarray, np.ndarray]:
    """MI (nats) of a stack of joint tables (..., r, c), Miller-Madow corrected or plug-in,
    and the table totals. Empty tables have MI 0."""
    t = np.asarray(tables, dtype=float)
    total = t.sum(axis=(-2, -1))
    safe = np.where(total > 0, total, 1.0)[..., None, None]
    p = t / safe
    pa = p.sum(axis=-1, keepdims=True)
    pb = p.sum(axis=-2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / (pa * pb)), 0.0)
    mi = np.maximum(terms.sum(axis=(-2, -1)), 0.0)
    if correction == "miller-madow":
        cells = (t > 0).sum(axis=(-2, -1))
        rows = (pa[..., 0] > 0).sum(axis=-1)
        cols = (pb[..., 0, :] > 0).sum(axis=-1)
        mi = mi - (cells - rows - cols + 1) / (2.0 * np.where(total > 0, total, np.inf))
    return np.where(total > 0, mi, 0.0), total


def _pooled_scores(ans: CrowdAnswers, correction: Correction) -> np.ndarray:
    """MI of each worker with its co-labellers pooled, partners weighted by a first pass.

    First pass: equal partner weights. Second pass: partner j weighted by
    ``sqrt(MI_j / max MI)``, an estimate proportional to its one-coin skill ``s_j`` (since
    ``g_K(t)`` grows like ``t^2``), which sharpens the reference the worker is compared with.
    """
    first, _ = table_mutual_information(pooled_tables(ans), correction)
    top = first.max()
    w = np.sqrt(np.maximum(first, 0.0) / top) if top > 0 else np.ones(ans.n_workers)
    sigma, _ = table_mutual_information(pooled_tables(ans, w), correction)
    return sigma


def _fit_skills(
    ans: CrowdAnswers,
    table: PairwiseMI,
    correction: Correction,
    task_weights: np.ndarray | None = None,
    max_iter: int = 500,
    tol: float = 1e-6,
    damping: float = 0.5,
) -> tuple[np.ndarray, int, bool]:
    """One-coin skills from pooled MI inverted through ``g_K``; (skills, n_iter, converged).

    Fixed point of ``s_i = g_K^{-1}(pooled MI_i) / s_bar_i`` with
    ``s_bar_i = sum_j w_j n_ij s_j / sum_j w_j n_ij`` and partner weights ``w_j = max(s_j, 0)``
    (see :func:`one_coin_skills`), iterated with damping from ``s = 1``.
    """
    k, m = ans.n_classes, ans.n_workers
    overlap = table.overlap
    op = pooled_operator(ans, task_weights)
    support = table.row_sums(table.overlap_values)
    s = np.ones(m)
    converged = False
    n_iter = 0
    for it in range(1, max_iter + 1):
        n_iter = it
        w = np.maximum(s, 0.0)
        tables = pooled_tables(ans, w, task_weights) if op is None else (op @ w).reshape(m, k, k)
        mi, total = table_mutual_information(tables, correction)
        p = tables / np.where(total > 0, total, 1.0)[:, None, None]
        agree = np.einsum("iaa->i", p)
        chance = np.einsum("ia,ia->i", p.sum(axis=2), p.sum(axis=1))
        t = g_k_inverse(mi, k, negative=agree < chance)  # the sign: agrees less than chance
        den = overlap @ w
        ridge = np.divide(1.0, support, out=np.ones(m), where=support > 0)
        s_bar = np.divide(overlap @ (w * s), den, out=np.zeros(m), where=den > 0)
        # least squares of t_i ~ s_i s_bar_i with a ridge of one pooled sample: tames workers
        # whose co-labellers all look like spammers (s_bar ~ 0), negligible otherwise
        target = t * s_bar / (s_bar**2 + ridge)
        target = np.clip(target, -1.0 / (k - 1), 1.0)
        new = damping * s + (1.0 - damping) * target
        change = np.max(np.abs(new - s)) if m else 0.0
        s = new
        if change < tol:
            converged = True
            break
    return s, n_iter, converged


def one_coin_skills(
    answers: Any,
    *,
    correction: Correction = "miller-madow",
    task_weights: np.ndarray | None = None,
    max_iter: int = 500,
    tol: float = 1e-6,
) -> pd.Series:
    """Each worker's one-coin skill ``s_i``, estimated from mutual information without truth.

    Under the one-coin model with a uniform prior the joint table of worker i's answer and the
    answer of a co-labeller j is linear in ``s_i s_j``, so the table :func:`pooled_tables`
    pools over all co-labellers (partner j weighted by ``w_j``) is the one-coin table of
    ``s_i s_bar_i`` with ``s_bar_i = sum_j w_j n_ij s_j / sum_j w_j n_ij``, and its mutual
    information is ``g_K(s_i s_bar_i)`` (ALGORITHMS.md §2). Inverting ``g_K``
    (:func:`g_k_inverse`) and dividing by the partners' mean skill gives

        ``s_i = g_K^{-1}(pooled MI_i) / s_bar_i``,   ``w_j = max(s_j, 0)``,

    solved by a damped fixed-point iteration from ``s = 1`` (damping 0.5). The MI is the
    Miller-Madow corrected plug-in estimate of the pooled table; the branch of ``g_K^{-1}`` is
    negative when the worker agrees with its co-labellers less often than chance given the
    table's marginals (adversarial workers get ``s < 0``). Unlike the raw pooled MI, the
    estimate does not depend on *who* the worker happened to co-label with, and unlike the MI
    it is signed, so weak workers and spammers are ordered correctly. On the population
    (exact) tables of one-coin workers the true ``s_i`` is recovered to machine precision
    (tested). For non-one-coin workers it is a reliability score (0 for workers independent
    of everyone).

    Parameters
    ----------
    answers : DataFrame, array, path or CrowdAnswers
        Crowd answers in any format :func:`crowdmix.as_answers` accepts.
    correction : {"miller-madow", "none"}, default="miller-madow"
        Small-sample correction of the pooled MI (see :func:`pairwise_mutual_information`).
    task_weights : Series indexed by task ID, or ndarray (n_tasks,) by task code, optional
        Weight of each task, e.g. probabilities of answer patterns.
    max_iter, tol : int, float
        Fixed-point iterations and tolerance on the largest change of ``s``; a
        :class:`crowdmix.ConvergenceWarning` is issued when it does not converge.

    Returns
    -------
    Series
        ``s_i`` in ``[-1/(K-1), 1]`` indexed by the user's worker IDs (name ``"skill"``); the
        one-coin accuracy is ``p_i = (1 + (K - 1) s_i) / K``.

    References
    ----------
    Zhao, V. and Zucker, S. W. (2017). Feature selection facilitates learning mixtures of
    discrete product distributions. arXiv:1711.09195.

    Examples
    --------
    >>> from crowdmix.mutual_information import one_coin_skills
    >>> from crowdmix.datasets import make_one_coin_crowd
    >>> crowd = make_one_coin_crowd(n_tasks=2000, n_workers=5, answers_per_task=None,
    ...                             accuracies=[0.5, 0.6, 0.7, 0.8, 0.9], random_state=0)
    >>> s = one_coin_skills(crowd.answers)    # true s = 2 p - 1 = 0, 0.2, 0.4, 0.6, 0.8
    >>> [f"{v:.1f}" for v in s.abs()]        # (|s|: the spammer's estimate may be -0.0)
    ['0.0', '0.2', '0.4', '0.6', '0.8']
    """
    ans = as_answers(answers)
    _check_choice(correction, _CORRECTIONS, "correction")
    tw = None
    if isinstance(task_weights, pd.Series):  # keyed by the user's task IDs
        missing_tasks = pd.Index(ans.tasks).difference(task_weights.index)
        if len(missing_tasks):
            raise InputError(f"task_weights has no weight for task {missing_tasks[0]!r}; give one per task")
        task_weights = task_weights.loc[ans.tasks].to_numpy()
    if task_weights is not None:
        tw = np.ascontiguousarray(task_weights, dtype=np.float64)
    s, n_iter, converged = _fit_skills(ans, pairwise_mi_table(ans, tw), correction, tw,
                                       max_iter=max_iter, tol=tol)
    if not converged:
        warnings.warn(f"one_coin_skills did not converge in max_iter={max_iter} iterations; "
                      "raise max_iter or tol", ConvergenceWarning, stacklevel=2)
    return pd.Series(s, index=pd.Index(ans.workers, name="worker"), name="skill")


def _scores(
    ans: CrowdAnswers,
    correction: Correction,
    min_overlap: int,
    weighting: Weighting,
    missing: Missing,
    with_skill: bool = True,
) -> dict[str, np.ndarray]:
    """Per worker: ``skill``, ``sum_mi`` (sigma), ``pooled_mi``, ``n_partners``, ``support``."""
    table = pairwise_mi_table(ans)
    skill, converged = np.full(ans.n_workers, np.nan), True
    if with_skill:
        skill, _, converged = _fit_skills(ans, table, correction)
    if not converged:
        warnings.warn("the one-coin skill iteration of rank_workers did not converge; the "
                      "last iterate is used", ConvergenceWarning, stacklevel=3)
    if missing == "category":
        sigma = _missing_category_matrix(ans).sum(axis=1)
    else:
        sigma = table.row_sums(table.corrected_values(correction, min_overlap, weighting))
    return {
        "skill": skill,
        "sum_mi": sigma,
        "pooled_mi": _pooled_scores(ans, correction),
        "n_partners": table.n_partners(),
        "support": table.row_sums(table.overlap_values),
    }


def rank_workers(
    answers: Any,
    *,
    correction: Correction = "miller-madow",
    min_overlap: int = 1,
    weighting: Weighting = "none",
    missing: Missing = "skip",
    score: Score = "skill",
    skill: bool = True,
) -> pd.DataFrame:
    """Rank workers by mutual information with the other workers, without ground truth.

    Three scores are computed for every worker (ALGORITHMS.md §2, Zhao & Zucker 2017); all are
    0 for workers whose answers are independent of everyone's (spammers, constant answerers)
    and grow with reliability:

    - ``skill`` (default ``score``): the worker's one-coin skill ``s_i`` estimated from the
      pooled MI inverted through the closed form ``g_K`` and divided by the mean skill of the
      worker's co-labellers, iterated (:func:`one_coin_skills`). Signed (below 0 for workers
      who agree with the others less than chance) and free of the luck of who co-labelled
      with whom, it orders workers by accuracy best: Spearman 0.91-0.95 on 500 tasks x 30
      workers x 5 answers per task for K = 2..5, and higher than ``pooled_mi`` on all five
      real benchmarks (docs/worker-ranking.md).

    - ``sum_mi``: the authors' ``sigma_i = sum_{j != i} S_ij``, the sum of the pairwise MI on
      the tasks each pair both answered. It also grows with the number of co-labellers, which
      is what an expert-only E-step needs; :class:`crowdmix.DawidSkene` ``(experts=...)`` cuts
      its experts from this score.
    - ``pooled_mi``: the MI between the worker's answer and the answer of a
      co-labeller of the same task, all co-labellers pooled into one joint table and weighted
      by a first-pass estimate of their skill. A pooled table has many more samples than any
      pair, so with few answers per worker it orders workers by accuracy much better than
      the sum (Spearman 0.89-0.93 vs 0.76-0.80 on 500 tasks x 30 workers x 5 answers per
      task). Under the one-coin model it equals ``g_K(s_i * s_bar_i)`` with ``s_bar_i`` the
      partners' mean skill, which differs between workers: ``skill`` removes that factor.

    Parameters
    ----------
    answers : DataFrame, array, path or CrowdAnswers
        Crowd answers in any format :func:`crowdmix.as_answers` accepts.
    correction, min_overlap, weighting, missing
        Small-overlap treatment and missing-value variant; see
        :func:`pairwise_mutual_information` (``min_overlap``, ``weighting`` and ``missing``
        apply to ``sum_mi``; ``correction`` to all three scores).
    score : {"skill", "pooled", "sum"}, default="skill"
        Which score orders the workers and fills the ``score`` column.
    skill : bool, default=True
        Compute the ``skill`` column (a fixed-point iteration, typically 20-200 sparse
        products). ``False`` leaves it NaN and is faster when ``score`` is ``"pooled"`` or
        ``"sum"`` (expert selection ranks this way many times).

    Returns
    -------
    DataFrame
        One row per worker (index: the user's worker IDs), sorted by rank, with columns
        ``score`` (``skill``: dimensionless in ``[-1/(K-1), 1]``; the MI scores: nats), ``rank`` (1 = most informative; ties share the best rank),
        ``n_answers``, ``n_partners`` (workers who co-labelled at least one task with this
        one), ``support`` (co-labelled task pairs behind the score, ``sum_j n_ij``),
        ``skill``, ``sum_mi`` and ``pooled_mi``.

    References
    ----------
    Zhao, V. and Zucker, S. W. (2017). Feature selection facilitates learning mixtures of
    discrete product distributions. arXiv:1711.09195.

    Examples
    --------
    >>> from crowdmix.mutual_information import rank_workers
    >>> from crowdmix.datasets import make_one_coin_crowd
    >>> crowd = make_one_coin_crowd(n_tasks=500, n_workers=10, answers_per_task=5, random_state=0)
    >>> ranking = rank_workers(crowd.answers)      # accuracies grow from w01 (random) to w10
    >>> ranking.index[0], int(ranking.loc["w01", "rank"]) > 7
    ('w10', True)
    """
    ans = as_answers(answers)
    _check_choice(missing, _MISSING, "missing")
    _check_choice(correction, _CORRECTIONS, "correction")
    _check_choice(weighting, _WEIGHTINGS, "weighting")
    _check_choice(score, _SCORES, "score")
    if score == "skill" and not skill:
        raise InputError("score='skill' needs skill=True; pass score='pooled' or 'sum' to skip it")
    stats = _scores(ans, correction, _check_min_overlap(min_overlap), weighting, missing, bool(skill))
    sigma = stats[{"skill": "skill", "pooled": "pooled_mi", "sum": "sum_mi"}[score]]
    frame = pd.DataFrame(
        {
            "score": sigma,
            "rank": pd.Series(sigma).rank(ascending=False, method="min").astype(np.int64).to_numpy(),
            "n_answers": ans.answers_per_worker.astype(np.int64),
            "n_partners": stats["n_partners"].astype(np.int64),
            "support": np.rint(stats["support"]).astype(np.int64),
            "skill": stats["skill"],
            "sum_mi": stats["sum_mi"],
            "pooled_mi": stats["pooled_mi"],
        },
        index=pd.Index(ans.workers, name="worker"),
    )
    order = np.lexsort((np.arange(len(sigma)), -sigma))  # stable: ties keep worker order
    return frame.iloc[order]
