"""KOS: the message-passing aggregator of Karger, Oh & Shah for binary labels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .base import BaseAggregator, clamp_codes
from .exceptions import InputError
from .kernels.kos import kos_messages

__all__ = ["KOS"]


class KOS(BaseAggregator):
    """Karger-Oh-Shah iterative inference for binary crowd labels.

    Answers are coded ``A = -1`` (first class) and ``A = +1`` (second class) on the edges of the
    bipartite task-worker graph. Task-to-worker messages ``x`` and worker-to-task messages ``y``
    are exchanged for ``max_iter`` rounds, each excluding the message's own edge::

        x_{t->w} = sum_{w' != w} A_{tw'} y_{w'->t}
        y_{w->t} = sum_{t' != t} A_{t'w} x_{t'->w}

    starting from ``y ~ N(1, 1)``; the label of task ``t`` is the sign of
    ``sum_w A_{tw} y_{w->t}``. The iteration is linear, so the messages are rescaled to unit
    root-mean-square after each round (the signs, hence the labels, are unchanged; nothing
    overflows) and the loop stops early when they no longer move (``tol``). The kernel is
    :func:`crowdmix.kernels.kos.kos_messages` (numba, one pass over the answers per half-step).

    KOS models workers as "spammer-hammer" one-coin annotators and returns hard decisions: it
    has no calibrated probabilities, so ``proba_`` is one-hot and the signed evidence is in
    ``scores_``. Binary labels only: multi-class answers raise :class:`~crowdmix.InputError`.

    Parameters
    ----------
    max_iter : int, default=100
        Maximum number of message-passing rounds (crowd-kit's ``n_iter``).
    tol : float, default=1e-8
        Stop when no (unit-RMS) message changes by more than this in a round.
    random_state : int, Generator or None
        Seed of the N(1, 1) initial messages.

    Attributes
    ----------
    classes_ : pandas.Index
        The two classes; ``scores_ > 0`` favours ``classes_[1]``.
    labels_ : pandas.Series
        Label per task. A task with zero evidence (no answers, or messages that cancel) takes
        its majority vote, ties going to ``classes_[0]``.
    proba_ : pandas.DataFrame
        One-hot rows (KOS gives no probabilities).
    scores_ : pandas.Series
        Signed evidence per task, ``sum_w A_tw y_{w->t}`` with unit-RMS messages.
    skills_ : pandas.Series
        Worker reliability messages ``sum_t A_tw x_{t->w}`` divided by their largest absolute
        value: in [-1, 1], negative for workers who answer against the consensus.
    n_iter_ : int
    converged_ : bool

    Raises
    ------
    crowdmix.InputError
        If the answers have more than two classes.

    References
    ----------
    Karger, D. R., Oh, S. and Shah, D. (2011). Iterative learning for reliable crowdsourcing
    systems. *Advances in Neural Information Processing Systems 24*, 1953-1961.
    Karger, D. R., Oh, S. and Shah, D. (2014). Budget-optimal task allocation for reliable
    crowdsourcing systems. *Operations Research* 62(1), 1-24.

    Examples
    --------
    >>> from crowdmix.kos import KOS
    >>> from crowdmix.datasets import make_one_coin_crowd
    >>> crowd = make_one_coin_crowd(n_tasks=400, n_workers=30, n_classes=2,
    ...                             answers_per_task=7, random_state=0)
    >>> kos = KOS(random_state=0).fit(crowd.answers)
    >>> bool((kos.labels_ == crowd.truth.loc[kos.labels_.index]).mean() > 0.8)
    True
    """

    def __init__(self, max_iter: int = 100, tol: float = 1e-8, random_state: Any = None):
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def fit(self, answers: Any, true_labels: Any = None) -> KOS:
        """Run the message passing.

        Parameters
        ----------
        answers : DataFrame, array or CrowdAnswers
            Binary crowd answers in any format :func:`crowdmix.as_answers` accepts.
        true_labels : Series or mapping task -> label, optional
            Known labels: those tasks get them in the output (they do not change the messages).

        Returns
        -------
        self
        """
        if not (isinstance(self.max_iter, (int, np.integer)) and self.max_iter >= 1):
            raise InputError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        if not self.tol >= 0:
            raise InputError(f"tol must be >= 0, got {self.tol!r}")
        ans = self._encode(answers)
        if ans.n_classes != 2:
            raise InputError(
                f"KOS is for binary labels only, but the answers have {ans.n_classes} classes; "
                f"use DawidSkene, Wawa or MajorityVote for multi-class data, or binarise the "
                f"labels first (one class against the rest); classes: {list(ans.classes)[:10]!r}"
            )
        rng = np.random.default_rng(self.random_state)
        sign = np.where(ans.label == 1, 1.0, -1.0)
        y0 = rng.normal(1.0, 1.0, size=ans.n_answers)
        task_score, worker_score, _, n_iter, converged = kos_messages(
            ans.task, ans.worker, sign, y0, ans.n_tasks, ans.n_workers,
            int(self.max_iter), float(self.tol),
        )
        codes = (task_score > 0).astype(np.int64)
        undecided = task_score == 0
        if undecided.any():
            votes = ans.vote_counts[undecided]
            codes[undecided] = (votes[:, 1] > votes[:, 0]).astype(np.int64)
        clamp = clamp_codes(ans, true_labels)
        known = clamp >= 0
        codes[known] = clamp[known]
        resp = np.zeros((ans.n_tasks, 2))
        resp[np.arange(ans.n_tasks), codes] = 1.0
        self._store(ans, resp, codes)
        self.scores_ = pd.Series(task_score, index=self.labels_.index, name="score")
        top = np.max(np.abs(worker_score)) if worker_score.size else 0.0
        skill = worker_score / top if top > 0 else np.zeros_like(worker_score)
        self.workers_ = pd.Index(ans.workers, name="worker")
        self.skills_ = pd.Series(skill, index=self.workers_, name="skill")
        self.n_iter_ = int(n_iter)
        self.converged_ = bool(converged)
        return self
