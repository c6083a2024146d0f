"""Rank annotators by pairwise mutual information, without ground truth (Zhao & Zucker, method B).

Under the Dawid-Skene model two workers are dependent only through the hidden class, so a
reliable worker shares information with every other reliable worker and a spammer shares none.
The mutual information ``S_ij`` of every pair of workers, computed on the tasks both answered,
and the score ``sigma_i = sum_j S_ij`` rank workers by reliability (ALGORITHMS.md §2). For
one-coin workers under a uniform prior, ``I(X_i; X_j) = g_K(s_i s_j)`` with
``s_i = (K p_i - 1) / (K - 1)`` (:func:`one_coin_mutual_information`): the score orders workers
exactly by accuracy and is 0 for random guessers.

:func:`rank_workers` also computes a second score, ``pooled_mi``: the MI of each worker with
all its co-labellers pooled into one joint table, which orders workers by accuracy much better
when each worker has few answers (it is the default order of :func:`rank_workers`; experts for
:class:`crowdmix.DawidSkene` are cut from the authors' sum, see :mod:`crowdmix.experts`).

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

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .answers import CrowdAnswers, as_answers
from .em import FeatureLayout
from .exceptions import InputError
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
    "g_k",
]

Correction = Literal["none", "miller-madow"]
Missing = Literal["skip", "category"]
Weighting = Literal["none", "overlap"]
Score = Literal["pooled", "sum"]
_SCORES = ("pooled", "sum")
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


def pooled_tables(answers: CrowdAnswers, partner_weights: np.ndarray | None = None) -> np.ndarray:
    """Each worker's joint answer table with all co-labellers pooled, shape (m, K, K).

    ``T_i(a, b) = sum_{j != i} w_j N_ij(a, b)``: the joint table of worker i's answer and the
    answer of a co-labeller of the same task, partners weighted by ``partner_weights`` (all
    ones by default). Computed from the weighted votes of every task, in O(answers x K).
    """
    k, m = answers.n_classes, answers.n_workers
    w = np.ones(m) if partner_weights is None else np.asarray(partner_weights, dtype=float)
    aw = w[answers.worker]
    flat = answers.task.astype(np.int64) * k + answers.label
    votes = np.bincount(flat, weights=aw, minlength=answers.n_tasks * k).reshape(-1, k)
    rows = votes[answers.task]  # weighted votes of the answer's task, shape (n_answers, K)
    rows[np.arange(answers.n_answers), answers.label] -= aw  # leave the worker itself out
    tables = np.empty((m * k, k))
    for b in range(k):
        tables[:, b] = np.bincount(answers.value_codes, weights=rows[:, b], minlength=m * k)
    return np.maximum(tables.reshape(m, k, k), 0.0)


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


def _scores(
    ans: CrowdAnswers,
    correction: Correction,
    min_overlap: int,
    weighting: Weighting,
    missing: Missing,
) -> dict[str, np.ndarray]:
    """Per worker: ``sum_mi`` (sigma), ``pooled_mi``, ``n_partners`` and ``support``."""
    table = pairwise_mi_table(ans)
    if missing == "category":
        sigma = _missing_category_matrix(ans).sum(axis=1)
    else:
        sigma = table.row_sums(table.corrected_values(correction, min_overlap, weighting))
    return {
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
    score: Score = "pooled",
) -> pd.DataFrame:
    """Rank workers by mutual information with the other workers, without ground truth.

    Two scores are computed for every worker (ALGORITHMS.md §2, Zhao & Zucker 2017); both are 0
    for workers whose answers are independent of everyone's (spammers, constant answerers) and
    grow with reliability:

    - ``sum_mi``: the authors' ``sigma_i = sum_{j != i} S_ij``, the sum of the pairwise MI on
      the tasks each pair both answered. It also grows with the number of co-labellers, which
      is what an expert-only E-step needs; :class:`crowdmix.DawidSkene` ``(experts=...)`` cuts
      its experts from this score.
    - ``pooled_mi`` (default ``score``): the MI between the worker's answer and the answer of a
      co-labeller of the same task, all co-labellers pooled into one joint table and weighted
      by a first-pass estimate of their skill. A pooled table has many more samples than any
      pair, so with few answers per worker it orders workers by accuracy much better
      (Spearman 0.89-0.93 vs 0.76-0.80 on 500 tasks x 30 workers x 5 answers per task, and
      better on the five real benchmarks; docs/worker-ranking.md). Under the one-coin model
      it equals ``g_K(s_i * s_bar)`` with ``s_bar`` the partners' mean skill: monotone in the
      worker's accuracy.

    Parameters
    ----------
    answers : DataFrame, array, path or CrowdAnswers
        Crowd answers in any format :func:`crowdmix.as_answers` accepts.
    correction, min_overlap, weighting, missing
        Small-overlap treatment and missing-value variant; see
        :func:`pairwise_mutual_information` (``min_overlap``, ``weighting`` and ``missing``
        apply to ``sum_mi``; ``correction`` to both).
    score : {"pooled", "sum"}, default="pooled"
        Which score orders the workers and fills the ``score`` column.

    Returns
    -------
    DataFrame
        One row per worker (index: the user's worker IDs), sorted by rank, with columns
        ``score`` (nats), ``rank`` (1 = most informative; ties share the best rank),
        ``n_answers``, ``n_partners`` (workers who co-labelled at least one task with this
        one), ``support`` (co-labelled task pairs behind the score, ``sum_j n_ij``),
        ``sum_mi`` and ``pooled_mi``.

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
    stats = _scores(ans, correction, _check_min_overlap(min_overlap), weighting, missing)
    sigma = stats["sum_mi" if score == "sum" else "pooled_mi"]
    frame = pd.DataFrame(
        {
            "score": sigma,
            "rank": pd.Series(sigma).rank(ascending=False, method="min").astype(np.int64).to_numpy(),
            "n_answers": ans.answers_per_worker.astype(np.int64),
            "n_partners": stats["n_partners"].astype(np.int64),
            "support": np.rint(stats["support"]).astype(np.int64),
            "sum_mi": stats["sum_mi"],
            "pooled_mi": stats["pooled_mi"],
        },
        index=pd.Index(ans.workers, name="worker"),
    )
    order = np.lexsort((np.arange(len(sigma)), -sigma))  # stable: ties keep worker order
    return frame.iloc[order]
