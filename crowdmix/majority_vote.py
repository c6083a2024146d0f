"""Majority vote: the baseline every aggregator is compared with."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from .base import BaseAggregator, clamp_codes
from .exceptions import InputError

__all__ = ["MajorityVote", "break_ties"]


def break_ties(scores: np.ndarray, tie_break: str, rng: np.random.Generator | None) -> np.ndarray:
    """Index of the largest score per row; ties go to the first class or a random tied class."""
    if tie_break == "first":
        return np.argmax(scores, axis=1)
    # random: add tiny noise only among the maxima
    top = scores >= scores.max(axis=1, keepdims=True) - 1e-12 * np.abs(scores).max(axis=1, keepdims=True)
    noise = rng.random(scores.shape)
    return np.argmax(np.where(top, noise, -1.0), axis=1)


class MajorityVote(BaseAggregator):
    """Label each task with its most frequent answer.

    Parameters
    ----------
    tie_break : {"first", "random"}, default="first"
        How to break ties between classes with equally many votes. ``"first"`` takes the class
        that comes first in ``classes_`` (sorted labels unless the classes were given
        explicitly): deterministic. ``"random"`` draws one of the tied classes uniformly using
        ``random_state``.
    random_state : int, Generator or None
        Seed for ``tie_break="random"``.

    Attributes
    ----------
    classes_ : pandas.Index
        Class labels.
    labels_ : pandas.Series
        Majority label per task.
    proba_ : pandas.DataFrame
        Vote shares per task and class (rows sum to one; a task without answers gets uniform
        shares).
    votes_ : pandas.DataFrame
        Vote counts per task and class.
    skills_ : pandas.Series
        Share of each worker's answers that agree with the majority label.
    n_ties_ : int
        Number of tasks whose top vote count was shared by several classes.

    Examples
    --------
    >>> import pandas as pd
    >>> from crowdmix import MajorityVote
    >>> df = pd.DataFrame({"task": [1, 1, 1, 2, 2], "worker": ["a", "b", "c", "a", "b"],
    ...                    "label": ["x", "x", "y", "y", "y"]})
    >>> MajorityVote().fit_predict(df).tolist()
    ['x', 'y']
    """

    def __init__(self, tie_break: Literal["first", "random"] = "first", random_state: Any = None):
        self.tie_break = tie_break
        self.random_state = random_state

    def fit(self, answers: Any, true_labels: Any = None) -> MajorityVote:
        """Count the votes.

        Parameters
        ----------
        answers : DataFrame, array or CrowdAnswers
            Crowd answers in any format :func:`crowdmix.as_answers` accepts.
        true_labels : Series or mapping task -> label, optional
            Known labels; those tasks get them instead of the vote.
        """
        if self.tie_break not in ("first", "random"):
            raise InputError(f"tie_break must be 'first' or 'random', got {self.tie_break!r}")
        ans = self._encode(answers)
        votes = ans.vote_counts
        totals = votes.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore"):
            shares = np.where(totals > 0, votes / np.where(totals > 0, totals, 1), 1.0 / ans.n_classes)
        rng = np.random.default_rng(self.random_state) if self.tie_break == "random" else None
        codes = break_ties(votes, self.tie_break, rng)
        clamp = clamp_codes(ans, true_labels)
        known = clamp >= 0
        if known.any():
            codes[known] = clamp[known]
            shares[known] = 0.0
            shares[np.flatnonzero(known), clamp[known]] = 1.0
        self.n_ties_ = int(((votes == votes.max(axis=1, keepdims=True)).sum(axis=1) > 1).sum())
        self._store(ans, shares, codes)
        self.votes_ = pd.DataFrame(votes.astype(np.int64), index=self.proba_.index, columns=self.classes_)
        agree = codes[ans.task] == ans.label
        per_worker = np.bincount(ans.worker, weights=agree, minlength=ans.n_workers)
        with np.errstate(invalid="ignore"):
            skill = per_worker / ans.answers_per_worker
        self.skills_ = pd.Series(skill, index=pd.Index(ans.workers, name="worker"), name="skill")
        return self
