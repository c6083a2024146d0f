"""Weighted majority votes: Wawa and zero-based skill.

Both methods weigh each worker's vote by a skill equal to the worker's agreement with the
aggregated labels:

- :class:`Wawa` ("worker agreement with aggregate"): majority vote, then skills = share of each
  worker's answers equal to the majority label, then one weighted vote.
- :class:`ZeroBasedSkill`: starting from equal skills, alternate a weighted vote and a step of
  the skills towards the workers' agreement with it, with a decaying learning rate.

Everything is vectorised over the flat answer arrays of :class:`~crowdmix.CrowdAnswers`
(``numpy.bincount``; one pass over the answers per vote), never a Python loop over answers.

References
----------
Appen (CrowdFlower). Worker agreement with aggregate (Wawa), as implemented in crowd-kit:
Ustalov, D., Pavlichenko, N. and Tseitlin, B. (2024). Learning from crowds with crowd-kit.
*Journal of Open Source Software* 9(96), 6227.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from .answers import CrowdAnswers, encode_for_workers
from .base import BaseAggregator, clamp_codes, labels_series, proba_frame
from .exceptions import InputError
from .majority_vote import break_ties

__all__ = ["Wawa", "ZeroBasedSkill", "weighted_vote", "agreement"]


def weighted_vote(answers: CrowdAnswers, weights: np.ndarray) -> np.ndarray:
    """Sum of the weights of the workers who gave each label, per task.

    Parameters
    ----------
    answers : CrowdAnswers
        Encoded answers.
    weights : ndarray of shape (n_workers,)
        Weight of each worker's vote (may be zero or negative).

    Returns
    -------
    ndarray of shape (n_tasks, n_classes)
        ``scores[t, k] = sum of weights[w] over the answers (t, w, k)``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from crowdmix import as_answers
    >>> ans = as_answers(pd.DataFrame({"task": [0, 0, 0], "worker": ["a", "b", "c"],
    ...                                "label": ["x", "y", "y"]}))
    >>> weighted_vote(ans, np.array([3.0, 1.0, 1.0])).tolist()
    [[3.0, 2.0]]
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (answers.n_workers,):
        raise InputError(
            f"weights must have one value per worker, shape ({answers.n_workers},), got {w.shape}"
        )
    k = answers.n_classes
    flat = np.bincount(
        answers.task.astype(np.int64) * k + answers.label,
        weights=w[answers.worker],
        minlength=answers.n_tasks * k,
    )
    return flat.reshape(answers.n_tasks, k)


def agreement(answers: CrowdAnswers, label_codes: np.ndarray) -> np.ndarray:
    """Share of each worker's answers equal to the given task labels (NaN without answers).

    Parameters
    ----------
    answers : CrowdAnswers
        Encoded answers.
    label_codes : ndarray of shape (n_tasks,)
        A class code per task.

    Returns
    -------
    ndarray of shape (n_workers,)
    """
    agree = (np.asarray(label_codes)[answers.task] == answers.label).astype(np.float64)
    hits = np.bincount(answers.worker, weights=agree, minlength=answers.n_workers)
    n = answers.answers_per_worker
    return np.divide(hits, n, out=np.full(answers.n_workers, np.nan), where=n > 0)


def _vote(
    answers: CrowdAnswers,
    weights: np.ndarray,
    clamp: np.ndarray,
    tie_break: str,
    rng: np.random.Generator | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted vote -> (shares, label codes). Tasks whose total weight is not positive fall
    back to the unweighted vote; known labels (``clamp >= 0``) override the vote."""
    scores = weighted_vote(answers, weights)
    totals = scores.sum(axis=1)
    bad = ~(totals > 0)
    if bad.any():
        scores[bad] = answers.vote_counts[bad]
        totals[bad] = scores[bad].sum(axis=1)
    codes = break_ties(scores, tie_break, rng)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals[:, None] > 0, scores / totals[:, None], 1.0 / answers.n_classes)
    known = clamp >= 0
    if known.any():
        codes[known] = clamp[known]
        shares[known] = 0.0
        shares[np.flatnonzero(known), clamp[known]] = 1.0
    return shares, codes


class _SkillVote(BaseAggregator):
    """Shared parts of the weighted-vote aggregators (parameter checks, storing, predict)."""

    def _check_tie_break(self) -> np.random.Generator | None:
        if self.tie_break not in ("first", "random"):
            raise InputError(f"tie_break must be 'first' or 'random', got {self.tie_break!r}")
        return np.random.default_rng(self.random_state) if self.tie_break == "random" else None

    def _finish(self, ans: CrowdAnswers, skills: np.ndarray, shares: np.ndarray, codes: np.ndarray):
        self._store(ans, shares, codes)
        self.workers_ = pd.Index(ans.workers, name="worker")
        self.skills_ = pd.Series(skills, index=self.workers_, name="skill")
        self.worker_summary_ = pd.DataFrame(
            {"n_answers": ans.answers_per_worker, "skill": skills}, index=self.workers_
        )

    def _vote_new(self, answers: Any) -> tuple[CrowdAnswers, np.ndarray, np.ndarray]:
        self._check_fitted()
        new = encode_for_workers(answers, self.workers_, self.classes_)
        rng = self._check_tie_break()
        shares, codes = _vote(
            new, self.skills_.to_numpy(dtype=float), np.full(new.n_tasks, -1), self.tie_break, rng
        )
        return new, shares, codes

    def predict(self, answers: Any) -> pd.Series:
        """Weighted vote on new tasks with the skills learned by ``fit`` (known workers only)."""
        new, _, codes = self._vote_new(answers)
        return labels_series(new.tasks, new.classes, codes)

    def predict_proba(self, answers: Any) -> pd.DataFrame:
        """Weighted vote shares of new tasks with the skills learned by ``fit``."""
        new, shares, _ = self._vote_new(answers)
        return proba_frame(new.tasks, new.classes, shares)


class Wawa(_SkillVote):
    """Worker agreement with aggregate: majority vote, then a vote weighted by agreement with it.

    1. Majority vote on every task.
    2. Each worker's skill is the share of their answers equal to the majority label.
    3. Every task gets the label with the largest sum of skills of the workers who chose it.

    Parameters
    ----------
    tie_break : {"first", "random"}, default="first"
        How ties are broken, in both votes: the class first in ``classes_`` (as crowd-kit does),
        or a uniformly random tied class drawn with ``random_state``.
    random_state : int, Generator or None
        Seed for ``tie_break="random"``.

    Attributes
    ----------
    classes_ : pandas.Index
    labels_ : pandas.Series
        Weighted-vote label per task.
    proba_ : pandas.DataFrame
        Share of the total skill of a task's workers that went to each class. A task whose
        workers all have skill 0 is labelled by the plain vote.
    skills_ : pandas.Series
        Agreement of each worker with the majority vote, in [0, 1].
    majority_labels_ : pandas.Series
        The majority vote of step 1.
    worker_summary_ : pandas.DataFrame
        ``n_answers`` and ``skill`` per worker.

    See Also
    --------
    ZeroBasedSkill : iterates the weighting until the skills settle.
    crowdmix.MajorityVote : the unweighted vote.

    References
    ----------
    Worker agreement with aggregate (Wawa), Appen/CrowdFlower; definition as in crowd-kit:
    Ustalov, D., Pavlichenko, N. and Tseitlin, B. (2024). Learning from crowds with
    crowd-kit. *Journal of Open Source Software* 9(96), 6227.

    Examples
    --------
    >>> import pandas as pd
    >>> from crowdmix.wawa import Wawa
    >>> df = pd.DataFrame({
    ...     "task":   [1, 1, 1, 2, 2, 2, 3, 3],
    ...     "worker": ["a", "b", "c", "a", "b", "c", "a", "c"],
    ...     "label":  ["x", "x", "y", "y", "y", "x", "x", "y"]})
    >>> wawa = Wawa().fit(df)
    >>> wawa.majority_labels_.tolist()       # task 3 is a tie, broken towards "x"
    ['x', 'y', 'x']
    >>> wawa.skills_.tolist()                # agreement with the majority vote
    [1.0, 1.0, 0.0]
    >>> wawa.labels_.tolist()                # task 3: a (skill 1) now beats c (skill 0)
    ['x', 'y', 'x']
    """

    def __init__(self, tie_break: Literal["first", "random"] = "first", random_state: Any = None):
        self.tie_break = tie_break
        self.random_state = random_state

    def fit(self, answers: Any, true_labels: Any = None) -> Wawa:
        """Vote, weigh the workers by agreement with the vote, vote again.

        Parameters
        ----------
        answers : DataFrame, array or CrowdAnswers
            Crowd answers in any format :func:`crowdmix.as_answers` accepts.
        true_labels : Series or mapping task -> label, optional
            Known labels: those tasks take them in both votes, so they also shape the skills.

        Returns
        -------
        self
        """
        rng = self._check_tie_break()
        ans = self._encode(answers)
        clamp = clamp_codes(ans, true_labels)
        _, mv_codes = _vote(ans, np.ones(ans.n_workers), clamp, self.tie_break, rng)
        skills = np.nan_to_num(agreement(ans, mv_codes))
        shares, codes = _vote(ans, skills, clamp, self.tie_break, rng)
        self._finish(ans, skills, shares, codes)
        self.majority_labels_ = labels_series(ans.tasks, ans.classes, mv_codes)
        return self


class ZeroBasedSkill(_SkillVote):
    """Zero-based skill: weighted majority vote with skills learned by iterative refinement.

    Skills start equal (``1 / K + eps``, so the first vote is the plain majority vote). Each
    iteration then votes with the current skills and moves every skill towards the worker's
    agreement with that vote: ``skill <- skill + lr * (agreement - skill)``. The learning rate
    starts at ``lr_init`` and is multiplied by ``lr_reduce_factor`` at every iteration number
    that is a multiple of ``lr_steps_to_reduce``. The labels are the vote with the final skills.
    This is crowd-kit's definition (``crowdkit.aggregation.ZeroBasedSkill``), which runs all
    ``n_iter`` iterations; here the loop also stops once no skill moves by more than ``tol``.

    Parameters
    ----------
    max_iter : int, default=100
        Maximum number of iterations (crowd-kit's ``n_iter``).
    lr_init : float, default=1.0
        Initial learning rate.
    lr_steps_to_reduce : int, default=20
        The learning rate is reduced at every multiple of this iteration number.
    lr_reduce_factor : float, default=0.5
        Factor applied to the learning rate at each reduction.
    eps : float, default=1e-5
        Added to the initial skill ``1 / K``.
    tol : float, default=1e-10
        Stop when the largest change of a skill in an iteration is below this (0 runs all
        ``max_iter`` iterations, exactly like crowd-kit).
    tie_break : {"first", "random"}, default="first"
        Tie-breaking of the votes (see :class:`Wawa`).
    random_state : int, Generator or None
        Seed for ``tie_break="random"``.

    Attributes
    ----------
    classes_ : pandas.Index
    labels_ : pandas.Series
    proba_ : pandas.DataFrame
        Share of the total skill of a task's workers that went to each class.
    skills_ : pandas.Series
        Final skill of each worker (an agreement rate, in [0, 1]).
    worker_summary_ : pandas.DataFrame
    n_iter_ : int
        Iterations run.
    converged_ : bool
        Whether the skills settled (change below ``tol``) before ``max_iter``.

    References
    ----------
    Zero-based skill, as defined in crowd-kit: Ustalov, D., Pavlichenko, N. and Tseitlin, B.
    (2024). Learning from crowds with crowd-kit. *Journal of Open Source Software* 9(96), 6227.

    Examples
    --------
    >>> from crowdmix.wawa import ZeroBasedSkill
    >>> from crowdmix.datasets import make_crowd
    >>> crowd = make_crowd(n_tasks=300, n_workers=20, n_classes=3, answers_per_task=7,
    ...                    random_state=0)
    >>> zbs = ZeroBasedSkill().fit(crowd.answers)
    >>> bool((zbs.labels_ == crowd.truth.loc[zbs.labels_.index]).mean() > 0.8)
    True
    """

    def __init__(
        self,
        max_iter: int = 100,
        lr_init: float = 1.0,
        lr_steps_to_reduce: int = 20,
        lr_reduce_factor: float = 0.5,
        eps: float = 1e-5,
        tol: float = 1e-10,
        tie_break: Literal["first", "random"] = "first",
        random_state: Any = None,
    ):
        self.max_iter = max_iter
        self.lr_init = lr_init
        self.lr_steps_to_reduce = lr_steps_to_reduce
        self.lr_reduce_factor = lr_reduce_factor
        self.eps = eps
        self.tol = tol
        self.tie_break = tie_break
        self.random_state = random_state

    def _check_params(self) -> None:
        for name in ("max_iter", "lr_steps_to_reduce"):
            value = getattr(self, name)
            if not (isinstance(value, (int, np.integer)) and value >= 1):
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if not self.lr_init > 0:
            raise InputError(f"lr_init must be > 0, got {self.lr_init!r}")
        if not 0 < self.lr_reduce_factor <= 1:
            raise InputError(f"lr_reduce_factor must be in (0, 1], got {self.lr_reduce_factor!r}")
        if not self.tol >= 0:
            raise InputError(f"tol must be >= 0, got {self.tol!r}")
        if not np.isfinite(self.eps):
            raise InputError(f"eps must be a finite number, got {self.eps!r}")

    def fit(self, answers: Any, true_labels: Any = None) -> ZeroBasedSkill:
        """Learn the skills by alternating weighted votes and skill updates.

        Parameters
        ----------
        answers : DataFrame, array or CrowdAnswers
            Crowd answers in any format :func:`crowdmix.as_answers` accepts.
        true_labels : Series or mapping task -> label, optional
            Known labels: those tasks take them in every vote.

        Returns
        -------
        self
        """
        self._check_params()
        rng = self._check_tie_break()
        ans = self._encode(answers)
        clamp = clamp_codes(ans, true_labels)
        n_seen = int(np.count_nonzero(np.bincount(ans.label, minlength=ans.n_classes)))
        skills = np.full(ans.n_workers, 1.0 / n_seen + self.eps)
        lr = float(self.lr_init)
        converged = False
        iteration = 0
        for iteration in range(1, self.max_iter + 1):
            if iteration % self.lr_steps_to_reduce == 0:
                lr *= self.lr_reduce_factor
            _, codes = _vote(ans, skills, clamp, self.tie_break, rng)
            target = agreement(ans, codes)
            target = np.where(np.isnan(target), skills, target)
            step = lr * (target - skills)
            skills = skills + step
            if np.max(np.abs(step)) < self.tol:
                converged = True
                break
        shares, codes = _vote(ans, skills, clamp, self.tie_break, rng)
        self._finish(ans, skills, shares, codes)
        self.n_iter_ = iteration
        self.converged_ = converged
        return self
