"""Learning from the experts: choose which workers drive the E-step (Zhao & Zucker, method B).

Workers ranked by pairwise mutual information (:func:`crowdmix.rank_workers`) are cut at the
top N, the *experts*; EM then runs with an E-step over the experts only, while the M-step
estimates every worker's confusion matrix (ALGORITHMS.md §2). This module resolves the
``experts=`` option of :class:`crowdmix.DawidSkene` (an int, a share, a list of worker IDs or
``"auto"``), completes the posteriors of tasks no expert answered, chooses N without ground
truth, and measures the goodness of fit of a model by the residual conditional mutual
information it leaves between workers.

References
----------
Zhao, V. and Zucker, S. W. (2017). Feature selection facilitates learning mixtures of discrete
product distributions. arXiv:1711.09195.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .answers import CrowdAnswers, as_answers
from .em import EMFit, FeatureLayout, posterior
from .exceptions import InputError
from .mutual_information import pairwise_mi_table, rank_workers

__all__ = [
    "AUTO_CRITERIA",
    "ExpertSelection",
    "ResidualCMI",
    "complete_posteriors",
    "expert_posterior",
    "expert_grid",
    "expert_mask",
    "expert_ranking",
    "heldout_choice",
    "heldout_loglik",
    "rank_stability",
    "knee_point",
    "resolve_experts",
    "residual_cmi",
    "select_n_experts",
]

#: criteria :func:`select_n_experts` can use to choose N without ground truth
AUTO_CRITERIA = ("residual", "heldout", "knee", "stability")


# ----------------------------------------------------------------------------- E-step helpers


def expert_mask(answers: CrowdAnswers, worker_codes: np.ndarray) -> np.ndarray:
    """Boolean mask over value codes (``worker * K + label``) of the given workers."""
    return FeatureLayout.uniform(answers.n_workers, answers.n_classes).code_mask(worker_codes)


def tasks_without_expert(answers: CrowdAnswers, worker_codes: np.ndarray) -> np.ndarray:
    """Boolean mask over tasks that none of the given workers answered."""
    is_expert = np.zeros(answers.n_workers, dtype=bool)
    is_expert[np.asarray(worker_codes, dtype=np.int64)] = True
    per_task = np.bincount(answers.task, weights=is_expert[answers.worker], minlength=answers.n_tasks)
    return per_task == 0


def complete_posteriors(answers: CrowdAnswers, fit: EMFit, worker_codes: np.ndarray,
                        clamp: np.ndarray | None = None) -> int:
    """Label the tasks no expert answered by an E-step over all workers (in place).

    After an expert-only EM, ``fit.resp`` of a task without expert answers is just the class
    prior. Its posterior is replaced by the one under the fitted parameters of **all** workers
    (every worker's confusion matrix was estimated by the M-step), so no task is dropped or
    left at the prior. Clamped tasks keep their known class. Returns the number of tasks
    completed.
    """
    lonely = tasks_without_expert(answers, worker_codes)
    if clamp is not None:
        lonely &= np.asarray(clamp) < 0
    if lonely.any():
        full, _ = posterior(answers.offsets, answers.value_codes, fit.log_params, fit.log_weights)
        fit.resp[lonely] = full[lonely]
    return int(lonely.sum())


def expert_posterior(answers: CrowdAnswers, log_params: np.ndarray, log_weights: np.ndarray,
                     worker_codes: np.ndarray) -> np.ndarray:
    """Posteriors of (new) tasks as an expert-fitted model labels its training tasks.

    Tasks with at least one expert answer get the expert-only E-step; tasks no expert answered
    get the E-step over all workers (:func:`complete_posteriors` does the same during ``fit``).
    ``answers`` must be encoded with the fitted model's workers and classes.

    Parameters
    ----------
    answers : CrowdAnswers
        Encoded answers (worker codes of the fitted model).
    log_params : ndarray (n_workers * K, K)
        Fitted log confusion rows ``log C_i(a | k)``, row ``worker * K + a``.
    log_weights : ndarray (K,)
        Fitted log class prior.
    worker_codes : int ndarray
        Codes of the expert workers.

    Returns
    -------
    ndarray (n_tasks, K)
        Posterior class probabilities.

    Examples
    --------
    >>> import numpy as np
    >>> from crowdmix import DawidSkene
    >>> from crowdmix.datasets import make_one_coin_crowd
    >>> crowd = make_one_coin_crowd(n_tasks=200, n_workers=8, random_state=0)
    >>> ds = DawidSkene(experts=3).fit(crowd.answers)
    >>> proba = ds.predict_proba(crowd.answers)    # uses expert_posterior
    >>> bool(np.allclose(proba.to_numpy(), ds.proba_.to_numpy(), atol=1e-4))
    True
    """
    codes = np.asarray(worker_codes, dtype=np.int64)
    mask = expert_mask(answers, codes)
    resp, _ = posterior(answers.offsets, answers.value_codes, log_params, log_weights, mask)
    lonely = tasks_without_expert(answers, codes)
    if lonely.any():
        full, _ = posterior(answers.offsets, answers.value_codes, log_params, log_weights)
        resp[lonely] = full[lonely]
    return resp


# ----------------------------------------------------------------------------- residual CMI


@dataclass(frozen=True)
class ResidualCMI:
    """Residual conditional mutual information of a fitted model (goodness of fit).

    For every worker pair and class k, ``I_k(i, j)`` is the mutual information of the two
    workers' answers under the posterior weights ``q_s(k)`` on the tasks both answered; under a
    correct model it is near zero. ``G_ij = sum_k 2 n_ij(k) I_k(i, j)`` (``n_ij(k)`` the
    weighted overlap) is approximately chi-square with ``dof = K (K - 1)^2`` degrees of
    freedom when the workers are conditionally independent (paper B's fit measure).

    Attributes
    ----------
    statistic : float
        ``sum G_ij / sum dof`` over the pairs considered: about 1 for a correct model, larger
        when dependence is left unexplained.
    cmi : float
        Mean over those pairs of ``sum_k w_k I_k(i, j)`` (nats).
    per_worker : pandas.DataFrame
        Per worker: ``statistic`` (same ratio over the worker's pairs), ``cmi`` (mean residual
        CMI) and ``n_pairs``; indexed by the user's worker IDs.
    n_pairs : int
        Number of pairs considered (those sharing at least ``min_overlap`` tasks).
    """

    statistic: float
    cmi: float
    per_worker: pd.DataFrame
    n_pairs: int


def residual_cmi(
    answers: Any,
    proba: Any,
    *,
    workers: Sequence[Any] | None = None,
    min_overlap: int = 5,
) -> ResidualCMI:
    """Residual conditional mutual information between workers given the fitted classes.

    Parameters
    ----------
    answers : DataFrame, array, path or CrowdAnswers
        The answers the model was fitted on.
    proba : DataFrame (tasks x classes) or ndarray (n_tasks, K)
        Posterior class probabilities, e.g. ``DawidSkene().fit(answers).proba_``.
    workers : sequence of worker IDs, optional
        Only pairs among these workers (e.g. the experts); all workers by default.
    min_overlap : int, default=5
        Pairs sharing fewer tasks are left out (the chi-square reference needs counts).

    Returns
    -------
    ResidualCMI

    References
    ----------
    Zhao, V. and Zucker, S. W. (2017). arXiv:1711.09195 (goodness of fit by residual mutual
    information).

    Examples
    --------
    >>> from crowdmix import DawidSkene
    >>> from crowdmix.datasets import make_one_coin_crowd
    >>> crowd = make_one_coin_crowd(n_tasks=400, n_workers=8, answers_per_task=None, random_state=0)
    >>> ds = DawidSkene().fit(crowd.answers)
    >>> fit = residual_cmi(crowd.answers, ds.proba_)
    >>> bool(fit.statistic < 2.0)   # close to the null level of 1
    True
    """
    ans = as_answers(answers)
    resp = _resp_array(ans, proba)
    if workers is not None:
        codes = _worker_codes(ans, workers)
        ans = ans.subset_workers(codes)
    k = ans.n_classes
    m = ans.n_workers
    weights = resp.mean(axis=0)
    g = sp.csr_matrix((m, m))
    cmi = sp.csr_matrix((m, m))
    for c in range(k):
        table = pairwise_mi_table(ans, weights=resp[:, c])
        g = g + table.mi.multiply(table.overlap) * 2.0
        cmi = cmi + table.mi * weights[c]
    keep = pairwise_mi_table(ans).overlap.copy()
    keep.data = (keep.data >= min_overlap).astype(np.float64)
    keep.eliminate_zeros()
    g = g.multiply(keep).tocsr()
    cmi = cmi.multiply(keep).tocsr()
    dof = float(k * (k - 1) ** 2)
    n_pairs_w = np.asarray(keep.sum(axis=1)).ravel()
    g_w = np.asarray(g.sum(axis=1)).ravel()
    cmi_w = np.asarray(cmi.sum(axis=1)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        per_worker = pd.DataFrame(
            {
                "statistic": g_w / (dof * n_pairs_w),
                "cmi": cmi_w / n_pairs_w,
                "n_pairs": n_pairs_w.astype(np.int64),
            },
            index=pd.Index(ans.workers, name="worker"),
        )
    if workers is not None:
        per_worker = per_worker.iloc[codes]
    total_pairs = float(n_pairs_w.sum()) / 2.0
    if total_pairs == 0:
        return ResidualCMI(float("nan"), float("nan"), per_worker, 0)
    return ResidualCMI(
        float(g_w.sum() / 2.0 / (dof * total_pairs)),
        float(cmi_w.sum() / 2.0 / total_pairs),
        per_worker,
        int(total_pairs),
    )


def _resp_array(ans: CrowdAnswers, proba: Any) -> np.ndarray:
    if isinstance(proba, pd.DataFrame):
        missing = ans.tasks.difference(proba.index)
        if len(missing):
            raise InputError(f"proba has no row for {len(missing)} task(s), e.g. {list(missing[:5])}")
        cols = ans.classes.difference(proba.columns)
        if len(cols):
            raise InputError(f"proba has no column for class(es) {list(cols)}")
        return proba.loc[ans.tasks, ans.classes].to_numpy(dtype=float)
    arr = np.asarray(proba, dtype=float)
    if arr.shape != (ans.n_tasks, ans.n_classes):
        raise InputError(
            f"proba must have shape (n_tasks, n_classes) = {(ans.n_tasks, ans.n_classes)}, "
            f"got {arr.shape}"
        )
    return arr


def _worker_codes(ans: CrowdAnswers, workers: Sequence[Any]) -> np.ndarray:
    ids = pd.Index(list(workers))
    if ids.has_duplicates:
        raise InputError(f"experts lists worker(s) {list(ids[ids.duplicated()][:5])} more than once")
    codes = ans.workers.get_indexer(ids)
    if (codes < 0).any():
        unknown = list(ids[codes < 0][:5])
        raise InputError(
            f"{int((codes < 0).sum())} expert(s) are not workers of these answers, e.g. "
            f"{unknown}; use the worker IDs of the input"
        )
    if len(codes) == 0:
        raise InputError("experts is an empty list; name at least one worker or pass experts=None")
    return codes.astype(np.int64)


# ----------------------------------------------------------------------------- choosing N


def expert_grid(n_workers: int, n_min: int = 3) -> np.ndarray:
    """Candidate numbers of experts: every N up to 12, then about 15% apart, up to all workers."""
    if n_workers <= n_min:
        return np.array([n_workers], dtype=np.int64)
    grid = list(range(n_min, min(12, n_workers) + 1))
    n = grid[-1]
    while n < n_workers:
        n = max(n + 1, int(round(n * 1.15)))
        grid.append(min(n, n_workers))
    return np.unique(np.asarray(grid, dtype=np.int64))


def knee_point(scores: np.ndarray, n_min: int = 3) -> int:
    """Knee of the decreasing score curve (Kneedle: the point farthest below the chord from the
    first to the last score); N = the number of workers before it (at least ``n_min``).

    Examples
    --------
    >>> knee_point([9.0, 8.5, 8.0, 1.0, 0.9, 0.8, 0.7, 0.6])
    3
    """
    y = np.sort(np.asarray(scores, dtype=float))[::-1]
    m = len(y)
    if m <= n_min:
        return m
    x = np.arange(m, dtype=float) / (m - 1)
    span = y[0] - y[-1]
    if span <= 0:
        return m
    yn = (y - y[-1]) / span
    dist = (1.0 - x) - yn  # chord from (0, 1) to (1, 0); the curve lies below it
    return int(max(n_min, np.argmax(dist)))  # the workers before the knee point


@dataclass
class ExpertSelection:
    """Result of :func:`select_n_experts`.

    Attributes
    ----------
    n_experts : int
        The chosen N.
    experts : list
        The chosen workers (user IDs), in rank order.
    criterion : str
        The rule that chose N.
    table : pandas.DataFrame
        One row per candidate N with the values of every computed criterion.
    ranking : pandas.DataFrame
        :func:`crowdmix.rank_workers` output the experts were cut from.
    extra : dict
        ``chosen_by``: the N each computed criterion would choose.
    """

    n_experts: int
    experts: list
    criterion: str
    table: pd.DataFrame
    ranking: pd.DataFrame
    extra: dict = field(default_factory=dict)


#: the ranking that selects experts: the authors' sum of pairwise MI. It rewards workers who
#: co-label informatively with many others, which an expert-only E-step needs; the per-answer
#: reliability scores ("skill", "pooled") rank reliability better but picks experts who rarely
#: co-label (docs/worker-ranking.md).
EXPERT_RANKING = {"score": "sum", "skill": False}


def expert_ranking(ans: CrowdAnswers, estimator: Any = None) -> pd.DataFrame:
    """The ranking experts are cut from: :func:`crowdmix.rank_workers` with ``score="sum"``."""
    return rank_workers(ans, **EXPERT_RANKING)


def resolve_experts(answers: CrowdAnswers, experts: Any, *, estimator: Any = None
                    ) -> tuple[np.ndarray, dict]:
    """Turn the ``experts=`` option into worker codes (rank order) and an explanation.

    Parameters
    ----------
    answers : CrowdAnswers
    experts : int, float, list of worker IDs or "auto"
        See :class:`crowdmix.DawidSkene`.
    estimator : DawidSkene, optional
        The estimator being fitted (its settings are used by ``"auto"``).

    Returns
    -------
    codes : int64 ndarray
        Worker codes of the experts, best first.
    info : dict
        ``rule``, ``n_experts``, ``scores`` (Series: the ranking score of every worker),
        ``n_tasks_without_expert`` and, for ``"auto"``, ``criterion`` and ``table``.
    """
    ans = answers
    m = ans.n_workers
    if isinstance(experts, str):
        if experts != "auto":
            raise InputError(
                f"experts must be None, an int, a share in (0, 1], a list of worker IDs or "
                f"'auto', got {experts!r}"
            )
        sel = select_n_experts(ans, estimator=estimator)
        codes = ans.workers.get_indexer(pd.Index(sel.experts)).astype(np.int64)
        info = {"rule": "auto", "criterion": sel.criterion, "table": sel.table, **sel.extra}
        ranking = sel.ranking
    elif isinstance(experts, (bool, np.bool_)):
        raise InputError(f"experts must be None, an int, a share, a list or 'auto', got {experts!r}")
    elif isinstance(experts, (int, np.integer)):
        if not 1 <= experts <= m:
            raise InputError(f"experts={experts} is not between 1 and the number of workers ({m})")
        ranking = expert_ranking(ans, estimator)
        codes = ans.workers.get_indexer(ranking.index[: int(experts)]).astype(np.int64)
        info = {"rule": "top_n"}
    elif isinstance(experts, (float, np.floating)):
        if not 0.0 < experts <= 1.0:
            raise InputError(f"a share of experts must lie in (0, 1], got {experts!r}")
        n = max(1, int(np.ceil(experts * m)))
        ranking = expert_ranking(ans, estimator)
        codes = ans.workers.get_indexer(ranking.index[:n]).astype(np.int64)
        info = {"rule": "share", "share": float(experts)}
    else:
        if isinstance(experts, (pd.Series, pd.Index, np.ndarray)):
            experts = list(experts)
        if not isinstance(experts, (list, tuple)):
            raise InputError(
                f"experts must be None, an int, a share, a list of worker IDs or 'auto', "
                f"got a {type(experts).__name__}"
            )
        codes = _worker_codes(ans, experts)
        ranking = None
        info = {"rule": "list"}
    info["n_experts"] = int(len(codes))
    if ranking is not None:
        info["scores"] = ranking["score"]
    info["n_tasks_without_expert"] = int(tasks_without_expert(ans, codes).sum())
    return codes, info


def _base_estimator(estimator: Any):
    from sklearn.base import clone

    from .dawid_skene import DawidSkene

    base = DawidSkene() if estimator is None else clone(estimator)
    params = {"experts": None, "verbose": 0}
    return base.set_params(**{k: v for k, v in params.items() if k in base.get_params()})


def _fit_quiet(estimator: Any, answers: CrowdAnswers) -> Any:
    import warnings

    from .exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(answers)


def heldout_loglik(
    answers: CrowdAnswers,
    grid: Sequence[int],
    *,
    estimator: Any = None,
    n_folds: int = 4,
    random_state: Any = 0,
    ranking_kwargs: dict | None = None,
) -> np.ndarray:
    """Predictive log-likelihood of held-out answers for every N of ``grid``.

    The answers are split at random into ``n_folds`` folds. For each fold, the workers are
    ranked on the other folds, the model is fitted with the top N as experts, and every
    held-out answer ``a`` of worker ``i`` on task ``s`` is scored by
    ``log sum_k q_s(k) C_i(a | k)`` (the task's fitted posterior times the worker's fitted
    confusion column). Returns an array (len(grid), n_answers): the score of every answer
    (each answer is held out exactly once), so that criteria can use paired differences.
    """
    rng = np.random.default_rng(random_state)
    fold = rng.integers(n_folds, size=answers.n_answers)
    base = _base_estimator(estimator)
    out = np.empty((len(grid), answers.n_answers))
    for f in range(n_folds):
        held = fold == f
        train_rows = ~held
        train = CrowdAnswers.from_codes(
            answers.task[train_rows], answers.worker[train_rows], answers.label[train_rows],
            answers.tasks, answers.workers, answers.classes,
        )
        ranking = rank_workers(train, **(ranking_kwargs or EXPERT_RANKING))
        order = train.workers.get_indexer(ranking.index)
        rows = np.flatnonzero(held)
        t, w, a = answers.task[rows], answers.worker[rows], answers.label[rows]
        for g, n in enumerate(grid):
            est = base.set_params(experts=list(train.workers.take(order[: int(n)])))
            est = _fit_quiet(est, train)
            q = est.proba_.to_numpy()
            conf = est.confusion_array_
            p = np.einsum("hk,hk->h", q[t], conf[w, a, :])
            out[g, rows] = np.log(np.maximum(p, 1e-300))
    return out


def heldout_choice(scores: np.ndarray, z: float = 2.0) -> tuple[int, np.ndarray]:
    """The held-out rule: which candidate to keep, from per-answer held-out scores.

    ``scores`` has one row per candidate N (increasing, the last = all workers) and one column
    per held-out answer. The expert model replaces the largest candidate (normally all workers,
    i.e. plain EM) only if its mean
    held-out log-likelihood is better by more than ``z`` standard errors of the paired
    difference; then the **largest** N within one standard error of the best is kept (the
    one-standard-error rule, preferring the model closer to plain EM). Returns the index of
    the chosen row and the standard errors of each row's difference to the best.
    """
    means = scores.mean(axis=1)
    best = int(np.argmax(means))
    n = scores.shape[1]
    se = (scores - scores[best]).std(axis=1, ddof=1) / np.sqrt(max(n, 1))
    last = len(means) - 1
    if best == last or means[best] - means[last] <= z * se[last]:
        return last, se
    ok = np.flatnonzero(means >= means[best] - se)
    return int(ok.max()), se


def rank_stability(answers: CrowdAnswers, grid: Sequence[int], *, n_boot: int = 10,
                   random_state: Any = 0, ranking_kwargs: dict | None = None) -> np.ndarray:
    """Mean Jaccard overlap between the top-N workers of the full data and of bootstrap
    resamples of the tasks, for every N of ``grid``."""
    rng = np.random.default_rng(random_state)
    full = rank_workers(answers, **(ranking_kwargs or EXPERT_RANKING))
    full_codes = answers.workers.get_indexer(full.index)
    per_task = answers.answers_per_task
    out = np.zeros(len(grid))
    for _ in range(n_boot):
        picks = rng.integers(answers.n_tasks, size=answers.n_tasks)
        lens = per_task[picks]
        ends = np.cumsum(lens)
        rows = np.repeat(answers.offsets[picks] - (ends - lens), lens) + np.arange(int(ends[-1]))
        new_task = np.repeat(np.arange(answers.n_tasks), lens)
        boot = CrowdAnswers.from_codes(
            new_task, answers.worker[rows], answers.label[rows], pd.RangeIndex(answers.n_tasks),
            answers.workers, answers.classes,
        )
        r = rank_workers(boot, **(ranking_kwargs or EXPERT_RANKING))
        b_codes = answers.workers.get_indexer(r.index)
        for g, n in enumerate(grid):
            a, b = set(full_codes[: int(n)]), set(b_codes[: int(n)])
            out[g] += len(a & b) / len(a | b)
    return out / n_boot


def select_n_experts(
    answers: Any,
    *,
    estimator: Any = None,
    criterion: str = "heldout",
    grid: Sequence[int] | None = None,
    n_folds: int = 4,
    compare: bool = False,
    random_state: Any = 0,
) -> ExpertSelection:
    """Choose the number of experts N without ground truth.

    Candidates N come from :func:`expert_grid` (every N up to 12, then steps of about 15%, up
    to all workers; all workers means plain EM). Criteria (ALGORITHMS.md §2):

    - ``"heldout"`` (default): cross-validated predictive log-likelihood of held-out answers
      (:func:`heldout_loglik`), decided by :func:`heldout_choice`: all workers unless the
      best expert model predicts unseen answers better by more than two standard errors,
      else the largest N within one standard error of the best. Costs
      ``n_folds x len(grid)`` EM fits.
    - ``"residual"``: the N whose fitted posterior leaves the least residual conditional MI
      between workers relative to its chi-square null level (:func:`residual_cmi`).
    - ``"knee"``: the knee of the sorted score curve (:func:`knee_point`).
    - ``"stability"``: the N whose top-N set is most stable under bootstrap resampling of the
      tasks (:func:`rank_stability`), ties to the larger N.

    The comparison on the public benchmarks (docs/worker-ranking.md) made ``"heldout"`` the
    default. No criterion uses ground truth.

    Parameters
    ----------
    answers : DataFrame, array, path or CrowdAnswers
    estimator : DawidSkene, optional
        Model settings to use (cloned; its ``experts`` is ignored). Default ``DawidSkene()``.
    criterion : {"heldout", "residual", "knee", "stability"}
    grid : sequence of int, optional
        Candidate N (default :func:`expert_grid`).
    n_folds : int, default=4
        Folds of the held-out criterion.
    compare : bool, default=False
        Compute every criterion (for reports), not only the one that decides.
    random_state : int, optional
        Seed of the fold split and bootstrap (the choice is deterministic for a given seed).

    Returns
    -------
    ExpertSelection

    References
    ----------
    Zhao, V. and Zucker, S. W. (2017). arXiv:1711.09195.

    Examples
    --------
    >>> from crowdmix.datasets import make_sparse_expert_crowd
    >>> crowd = make_sparse_expert_crowd(n_tasks=300, n_workers=30, n_experts=6, random_state=0)
    >>> sel = select_n_experts(crowd.answers, grid=[3, 6, 12, 30])
    >>> sel.n_experts in (3, 6, 12, 30)
    True
    """
    ans = as_answers(answers)
    if criterion not in AUTO_CRITERIA:
        raise InputError(f"criterion must be one of {AUTO_CRITERIA}, got {criterion!r}")
    m = ans.n_workers
    grid_arr = expert_grid(m) if grid is None else np.unique(np.asarray(list(grid), dtype=np.int64))
    if len(grid_arr) == 0 or grid_arr.min() < 1 or grid_arr.max() > m:
        raise InputError(f"grid values must lie between 1 and the number of workers ({m})")
    ranking = expert_ranking(ans)
    table = pd.DataFrame(index=pd.Index(grid_arr, name="n_experts"))
    chosen: dict[str, int] = {}
    todo = AUTO_CRITERIA if compare else (criterion,)
    if "heldout" in todo:
        scores = heldout_loglik(ans, grid_arr, estimator=estimator, n_folds=n_folds,
                                random_state=random_state)
        idx, se = heldout_choice(scores)
        table["heldout"] = scores.mean(axis=1)
        table["heldout_se"] = se
        chosen["heldout"] = int(grid_arr[idx])
    if "residual" in todo:
        base = _base_estimator(estimator)
        values = []
        for n in grid_arr:
            est = _fit_quiet(base.set_params(experts=list(ranking.index[: int(n)])), ans)
            values.append(residual_cmi(ans, est.proba_).statistic)
        table["residual"] = values
        chosen["residual"] = int(grid_arr[int(np.nanargmin(values))])
    if "knee" in todo:
        chosen["knee"] = knee_point(ranking["score"].to_numpy())
    if "stability" in todo:
        stab = rank_stability(ans, grid_arr, random_state=random_state)
        table["stability"] = stab
        best = np.flatnonzero(stab >= stab.max() - 1e-12)
        chosen["stability"] = int(grid_arr[best.max()])
    n = chosen[criterion]
    return ExpertSelection(
        n_experts=n,
        experts=list(ranking.index[:n]),
        criterion=criterion,
        table=table,
        ranking=ranking,
        extra={"chosen_by": chosen},
    )
