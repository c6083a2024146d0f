"""Synthetic crowds and the real benchmark datasets.

Synthetic generators return a :class:`CrowdData` holding the simulated answers together with
everything that generated them (true labels, every worker's confusion matrix, worker types and
the class prior), so estimators can be checked against the ground truth:

- :func:`make_crowd`: a realistic mixed crowd of experts, average workers, biased workers and
  spammers.
- :func:`make_one_coin_crowd`: every worker is "one-coin" (one accuracy, errors spread
  uniformly over the other classes).
- :func:`make_sparse_expert_crowd`: a few one-coin experts hidden in a dense crowd of pure
  noise.

Confusion matrices follow the convention used throughout crowdmix: ``confusions[j, l, k]`` is
the probability that worker ``j`` answers ``l`` when the true class is ``k``, so every *column*
``confusions[j, :, k]`` sums to one. Synthetic labels are the integers ``0 .. K-1``, task IDs
are strings ``"t0001", "t0002", ...`` and worker IDs are strings ``"w01", "w02", ...``.

:func:`load_crowd_benchmark` and :func:`list_crowd_benchmarks` read the real benchmark
datasets (bird, rte, dog, web, trec) from a shared read-only data folder; see
:func:`load_crowd_benchmark` for how the folder is located.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import InputError

__all__ = [
    "WORKER_TYPES",
    "CrowdBenchmark",
    "CrowdData",
    "list_crowd_benchmarks",
    "load_crowd_benchmark",
    "make_crowd",
    "make_one_coin_crowd",
    "make_sparse_expert_crowd",
]

#: Worker types understood by :func:`make_crowd`.
WORKER_TYPES: tuple[str, ...] = ("expert", "average", "biased", "spammer")

_DEFAULT_WORKER_TYPES: dict[str, float] = {
    "expert": 0.15,
    "average": 0.5,
    "biased": 0.15,
    "spammer": 0.2,
}

#: Environment variable naming the folder that holds the benchmark datasets.
SHARED_DATA_ENV = "CROWDMIX_SHARED_DATA"

_RandomState = int | np.random.Generator | np.random.SeedSequence | None


# --------------------------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CrowdData:
    """A simulated crowd together with the parameters that generated it.

    Attributes
    ----------
    answers : pandas.DataFrame
        One row per answer with columns ``task`` (str, ``"t0001"``...), ``worker`` (str,
        ``"w01"``...) and ``label`` (int64 in ``0 .. K-1``), sorted by task then worker. A
        worker answers a task at most once.
    truth : pandas.Series
        True label (int64) of every task, indexed by task ID (index name ``"task"``), named
        ``"label"``.
    confusions : numpy.ndarray
        Array of shape ``(n_workers, K, K)``; ``confusions[j, l, k]`` is the probability that
        worker ``j`` answers ``l`` when the truth is ``k`` (columns sum to one). Row ``j``
        belongs to ``worker_ids[j]``.
    worker_ids : list of str
        Worker IDs in the order of ``confusions``.
    worker_types : list of str
        Type of each worker (``"expert"``, ``"average"``, ``"biased"``, ``"spammer"``,
        ``"one_coin"`` or ``"custom"``), in the order of ``worker_ids``.
    class_prior : numpy.ndarray
        Class probabilities (shape ``(K,)``) the true labels were drawn from.
    """

    answers: pd.DataFrame
    truth: pd.Series
    confusions: np.ndarray
    worker_ids: list[str]
    worker_types: list[str]
    class_prior: np.ndarray

    @property
    def n_tasks(self) -> int:
        """Number of tasks."""
        return len(self.truth)

    @property
    def n_workers(self) -> int:
        """Number of workers (including any that happened to answer nothing)."""
        return len(self.worker_ids)

    @property
    def n_classes(self) -> int:
        """Number of classes ``K``."""
        return int(self.confusions.shape[1])

    def __repr__(self) -> str:
        return (
            f"CrowdData(n_tasks={self.n_tasks}, n_workers={self.n_workers}, "
            f"n_classes={self.n_classes}, n_answers={len(self.answers)})"
        )


@dataclass(frozen=True, eq=False)
class CrowdBenchmark:
    """A real crowdsourcing dataset with expert ground truth.

    Attributes
    ----------
    name : str
        Dataset name (its folder name, e.g. ``"bird"``).
    answers : pandas.DataFrame
        Columns ``task``, ``worker``, ``label``, all strings exactly as in ``labels.csv``.
    truth : pandas.Series
        Expert label (str) indexed by task (str, index name ``"task"``), named ``"label"``.
        Only some tasks may have a truth label (web, trec); score on these only.
    """

    name: str
    answers: pd.DataFrame
    truth: pd.Series

    @property
    def n_classes(self) -> int:
        """Number of distinct labels among the answers and the truth."""
        return int(pd.concat([self.answers["label"], self.truth]).nunique())

    def __repr__(self) -> str:
        return (
            f"CrowdBenchmark(name={self.name!r}, n_answers={len(self.answers)}, "
            f"n_tasks={self.answers['task'].nunique()}, "
            f"n_workers={self.answers['worker'].nunique()}, n_truth={len(self.truth)})"
        )


# --------------------------------------------------------------------------------------------
# Confusion matrices
# --------------------------------------------------------------------------------------------


def _with_diagonal(diag: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Confusion matrix with the given diagonal and off-diagonal shape.

    ``diag`` has shape ``(K,)``; ``off`` has shape ``(K - 1, K)`` and its column ``k`` (summing
    to one) says how the error mass ``1 - diag[k]`` of column ``k`` is spread over the other
    classes, in increasing class order.
    """
    k = diag.shape[0]
    conf = np.zeros((k, k))
    off_mask = ~np.eye(k, dtype=bool)
    # Column-major fill of the off-diagonal entries: transpose so that boolean indexing walks
    # column by column.
    conf.T[off_mask.T] = (off * (1.0 - diag)[None, :]).T.ravel()
    conf[np.diag_indices(k)] = diag
    return conf


def _one_coin(accuracy: float, k: int) -> np.ndarray:
    """One-coin confusion matrix: ``accuracy`` on the diagonal, the rest spread uniformly."""
    if k == 1:
        return np.ones((1, 1))
    conf = np.full((k, k), (1.0 - accuracy) / (k - 1))
    conf[np.diag_indices(k)] = accuracy
    return conf


def _expert(rng: np.random.Generator, k: int) -> np.ndarray:
    """Near one-coin worker: one accuracy in [0.85, 0.97], errors spread almost uniformly."""
    acc = rng.uniform(0.85, 0.97)
    off = rng.dirichlet(np.full(k - 1, 10.0), size=k).T if k > 1 else np.zeros((0, 1))
    return _with_diagonal(np.full(k, acc), off)


def _average(rng: np.random.Generator, k: int, low: float = 0.6, high: float = 0.8) -> np.ndarray:
    """Full confusion matrix: per-class accuracy in [low, high], errors Dirichlet(1)."""
    diag = rng.uniform(low, high, size=k)
    off = rng.dirichlet(np.ones(k - 1), size=k).T if k > 1 else np.zeros((0, 1))
    return _with_diagonal(diag, off)


def _biased(rng: np.random.Generator, k: int) -> np.ndarray:
    """Systematically biased worker.

    Starts from a fairly good full confusion matrix ``A`` (accuracies 0.7-0.9) and moves a
    share ``lam`` of some columns onto one wrong answer: ``C[:, c] = (1 - lam) A[:, c] +
    lam e_target``. Two kinds, equally likely when ``K >= 3`` (only the first when ``K = 2``):

    - *preferred label*: every class ``c != p`` leaks ``lam`` in [0.2, 0.5] onto label ``p``;
    - *adjacent pair*: classes ``j`` and ``j + 1`` are mixed up with each other, each leaking
      ``lam`` in [0.3, 0.5] onto the other.
    """
    base = _average(rng, k, 0.7, 0.9)
    if k == 1:
        return base
    target = np.arange(k)
    lam = np.zeros(k)
    if k == 2 or rng.random() < 0.5:
        p = rng.integers(k)
        target[:] = p
        lam[:] = rng.uniform(0.2, 0.5)
        lam[p] = 0.0
    else:
        j = rng.integers(k - 1)
        target[j], target[j + 1] = j + 1, j
        lam[[j, j + 1]] = rng.uniform(0.3, 0.5)
    conf = base * (1.0 - lam)[None, :]
    conf[target, np.arange(k)] += lam
    return conf


def _spammer(rng: np.random.Generator, k: int) -> np.ndarray:
    """Answers independent of the truth: uniform at random, or always one fixed label."""
    if rng.random() < 0.5:
        return np.full((k, k), 1.0 / k)
    conf = np.zeros((k, k))
    conf[rng.integers(k), :] = 1.0
    return conf


_GENERATORS = {"expert": _expert, "average": _average, "biased": _biased, "spammer": _spammer}


def _type_counts(shares: Mapping[str, float], n_workers: int) -> dict[str, int]:
    """Split ``n_workers`` by shares with largest-remainder rounding (ties: listed order)."""
    unknown = sorted(set(shares) - set(WORKER_TYPES))
    if unknown:
        raise InputError(
            f"unknown worker type(s) {unknown}; worker_types keys must be among {list(WORKER_TYPES)}"
        )
    names = [name for name in WORKER_TYPES if name in shares]
    weights = np.array([float(shares[name]) for name in names])
    if weights.size == 0 or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise InputError(f"worker_types shares must be finite and >= 0, got {dict(shares)}")
    if weights.sum() <= 0:
        raise InputError(f"worker_types shares must not all be zero, got {dict(shares)}")
    exact = weights / weights.sum() * n_workers
    counts = np.floor(exact).astype(int)
    remainder = n_workers - counts.sum()
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:remainder]] += 1
    return dict(zip(names, counts.tolist(), strict=True))


def _check_confusions(confusions: Any, n_workers: int, n_classes: int) -> np.ndarray:
    conf = np.array(confusions, dtype=float)
    if conf.ndim != 3 or conf.shape[1] != conf.shape[2]:
        raise InputError(f"confusion matrices must have shape (n_workers, K, K), got {conf.shape}")
    if conf.shape != (n_workers, n_classes, n_classes):
        raise InputError(
            f"confusion matrices have shape {conf.shape} but n_workers={n_workers} and "
            f"n_classes={n_classes}; pass n_workers={conf.shape[0]}, n_classes={conf.shape[1]}"
        )
    if not np.all(np.isfinite(conf)) or np.any(conf < 0):
        raise InputError("confusion matrices must hold finite probabilities >= 0")
    sums = conf.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        j, k = np.unravel_index(np.argmax(np.abs(sums - 1.0)), sums.shape)
        raise InputError(
            "every column of a confusion matrix must sum to one (column k = P(answer | truth k)); "
            f"worker {j}, column {k} sums to {sums[j, k]:.6g}"
        )
    return conf / sums[:, None, :]


# --------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    width = max(width, len(str(n)))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)], dtype=object)


def _answer_counts(
    answers_per_task: int | tuple[int, int] | None,
    n_tasks: int,
    n_available: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Number of answers of every task (``None``: every available worker)."""
    if answers_per_task is None:
        return np.full(n_tasks, n_available, dtype=np.int64)
    if np.ndim(answers_per_task) == 0:
        low = high = int(answers_per_task)  # type: ignore[arg-type]
    else:
        bounds = tuple(int(b) for b in answers_per_task)  # type: ignore[union-attr]
        if len(bounds) != 2:
            raise InputError(
                f"answers_per_task must be an int or an inclusive (low, high) pair, "
                f"got {answers_per_task!r}"
            )
        low, high = bounds
    if not 1 <= low <= high:
        raise InputError(
            f"answers_per_task must satisfy 1 <= low <= high, got {answers_per_task!r}"
        )
    if high > n_available:
        raise InputError(
            f"answers_per_task allows up to {high} answers per task from distinct workers, but "
            f"only {n_available} workers can answer (n_workers or non-zero worker_activity)"
        )
    if low == high:
        return np.full(n_tasks, low, dtype=np.int64)
    return rng.integers(low, high + 1, size=n_tasks)


def _assign_workers(
    counts: np.ndarray, activity: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``counts[t]`` distinct workers for every task, with probabilities ~ ``activity``.

    Weighted sampling without replacement by exponential keys (Efraimidis-Spirakis): each
    worker gets key ``Exp(1) / activity``; a task takes the workers with the smallest keys.
    Returns task and worker indices sorted by task then worker.
    """
    n_tasks, n_workers = counts.shape[0], activity.shape[0]
    task_parts: list[np.ndarray] = []
    worker_parts: list[np.ndarray] = []
    dense = bool(np.all(counts == n_workers))
    chunk = max(1, 2_000_000 // max(n_workers, 1))
    inv = np.divide(1.0, activity, out=np.full(n_workers, np.inf), where=activity > 0)
    for start in range(0, n_tasks, chunk):
        stop = min(start + chunk, n_tasks)
        m = counts[start:stop]
        if dense:
            chosen = np.broadcast_to(np.arange(n_workers), (stop - start, n_workers))
            mask = np.ones((stop - start, n_workers), dtype=bool)
        else:
            keys = rng.standard_exponential((stop - start, n_workers)) * inv[None, :]
            top = int(m.max())
            if top < n_workers:  # only the `top` smallest keys matter: partition, then sort
                cand = np.argpartition(keys, top - 1, axis=1)[:, :top]
            else:
                cand = np.broadcast_to(np.arange(n_workers), keys.shape)
            order = np.argsort(np.take_along_axis(keys, cand, axis=1), axis=1, kind="stable")
            ranks = np.take_along_axis(cand, order, axis=1)
            mask = np.arange(top)[None, :] < m[:, None]
            # Put every task's chosen workers in increasing worker order.
            chosen = np.sort(np.where(mask, ranks, n_workers), axis=1)
        worker_parts.append(chosen[mask])
        task_parts.append(np.repeat(np.arange(start, stop), m))
    if not task_parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(task_parts), np.concatenate(worker_parts).astype(np.int64)


def _drop_missing(
    task_idx: np.ndarray, n_tasks: int, missing: float, rng: np.random.Generator
) -> np.ndarray:
    """Keep-mask dropping each answer with probability ``missing``, >= 1 kept per task.

    ``task_idx`` must be sorted. A task that loses every answer gets one of its answers back,
    chosen uniformly at random.
    """
    n = task_idx.shape[0]
    keep = rng.random(n) >= missing
    per_task = np.bincount(task_idx, minlength=n_tasks)
    kept = np.bincount(task_idx, weights=keep, minlength=n_tasks)
    empty = np.flatnonzero((kept == 0) & (per_task > 0))
    if empty.size:
        starts = np.concatenate(([0], np.cumsum(per_task)[:-1]))
        rescue = starts[empty] + np.floor(rng.random(empty.size) * per_task[empty]).astype(int)
        keep[rescue] = True
    return keep


def _check_missing(missing: float | None) -> float:
    value = 0.0 if missing is None else float(missing)
    if not 0.0 <= value < 1.0:
        raise InputError(f"missing must be a fraction in [0, 1), got {missing!r}")
    return value


def _simulate(
    confusions: np.ndarray,
    class_prior: np.ndarray,
    worker_types: list[str],
    n_tasks: int,
    answers_per_task: int | tuple[int, int] | None,
    worker_activity: Any,
    missing: float | None,
    rng: np.random.Generator,
) -> CrowdData:
    """Draw truths, the task-worker design and the answers; package them as CrowdData."""
    n_workers, k, _ = confusions.shape
    if int(n_tasks) != n_tasks or n_tasks < 1:
        raise InputError(f"n_tasks must be a positive integer, got {n_tasks!r}")
    n_tasks = int(n_tasks)
    missing_share = _check_missing(missing)

    if worker_activity is None:
        activity = np.ones(n_workers)
    else:
        activity = np.asarray(worker_activity, dtype=float)
        if activity.shape != (n_workers,):
            raise InputError(
                f"worker_activity must hold one weight per worker ({n_workers}), "
                f"got shape {activity.shape}"
            )
        if not np.all(np.isfinite(activity)) or np.any(activity < 0) or activity.sum() <= 0:
            raise InputError("worker_activity weights must be finite, >= 0 and not all zero")
    n_available = int(np.count_nonzero(activity))

    truth = rng.choice(k, size=n_tasks, p=class_prior)
    counts = _answer_counts(answers_per_task, n_tasks, n_available, rng)
    if answers_per_task is None and n_available < n_workers:
        raise InputError(
            "a dense design (answers_per_task=None) needs every worker to be active; "
            "drop the workers with zero worker_activity instead"
        )
    task_idx, worker_idx = _assign_workers(counts, activity, rng)

    # Draw every answer from column truth[task] of its worker's confusion matrix by inverting
    # the cumulative distribution.
    cum = np.cumsum(confusions[worker_idx, :, truth[task_idx]], axis=1)
    u = rng.random(task_idx.shape[0])
    labels = np.minimum((cum <= u[:, None]).sum(axis=1), k - 1).astype(np.int64)

    if missing_share > 0:
        keep = _drop_missing(task_idx, n_tasks, missing_share, rng)
        task_idx, worker_idx, labels = task_idx[keep], worker_idx[keep], labels[keep]

    task_ids = _ids("t", n_tasks, 4)
    worker_ids = _ids("w", n_workers, 2)
    answers = pd.DataFrame(
        {
            "task": task_ids[task_idx],
            "worker": worker_ids[worker_idx],
            "label": labels,
        }
    )
    truth_series = pd.Series(
        truth.astype(np.int64),
        index=pd.Index(task_ids, name="task"),
        name="label",
    )
    return CrowdData(
        answers=answers,
        truth=truth_series,
        confusions=confusions,
        worker_ids=worker_ids.tolist(),
        worker_types=list(worker_types),
        class_prior=class_prior,
    )


def _check_prior(class_prior: Any, n_classes: int) -> np.ndarray:
    if class_prior is None:
        return np.full(n_classes, 1.0 / n_classes)
    prior = np.array(class_prior, dtype=float)
    if prior.shape != (n_classes,):
        raise InputError(
            f"class_prior must hold one probability per class ({n_classes}), got shape {prior.shape}"
        )
    if not np.all(np.isfinite(prior)) or np.any(prior < 0) or prior.sum() <= 0:
        raise InputError(f"class_prior must be finite, >= 0 and not all zero, got {prior}")
    return prior / prior.sum()


def _check_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------
# Public generators
# --------------------------------------------------------------------------------------------


def make_crowd(
    n_tasks: int = 1000,
    n_workers: int = 40,
    n_classes: int = 3,
    answers_per_task: int | tuple[int, int] | None = (3, 7),
    worker_types: Mapping[str, float] | Sequence[str] | np.ndarray | None = None,
    class_prior: Sequence[float] | np.ndarray | None = None,
    missing: float | None = None,
    random_state: _RandomState = None,
    worker_activity: Sequence[float] | np.ndarray | None = None,
) -> CrowdData:
    """Simulate a realistic crowd of heterogeneous workers.

    Every task gets a true label drawn from ``class_prior`` and a number of answers drawn
    uniformly from ``answers_per_task``, each from a different worker; worker ``j`` answers
    ``l`` for a task of true class ``k`` with probability ``confusions[j, l, k]``.

    Worker types (confusion matrices drawn at random):

    - ``"expert"``: one accuracy in [0.85, 0.97] for every class, errors spread almost
      uniformly over the other classes (one-coin-ish).
    - ``"average"``: full confusion matrix, per-class accuracy in [0.6, 0.8], error mass of
      each column spread by a Dirichlet(1, ..., 1).
    - ``"biased"``: a good full matrix distorted either towards one *preferred label* (every
      other class leaks 20-50 % of its answers onto it) or, when ``K >= 3``, by mixing up a
      pair of *adjacent classes* ``j, j+1`` (30-50 % each way).
    - ``"spammer"``: answers independent of the truth, either uniformly at random or always
      one fixed label (equally likely).

    Parameters
    ----------
    n_tasks : int, default 1000
        Number of tasks.
    n_workers : int, default 40
        Number of workers.
    n_classes : int, default 3
        Number of classes ``K``; labels are ``0 .. K-1``.
    answers_per_task : int, (int, int) or None, default (3, 7)
        Answers per task: a fixed number or an inclusive ``(low, high)`` range drawn uniformly
        per task. ``None`` gives a dense design where every worker answers every task.
    worker_types : dict, sequence of str, array or None, default None
        Either a mapping type -> share (shares are normalised and turned into worker counts by
        largest-remainder rounding; the default is ``{"expert": 0.15, "average": 0.5,
        "biased": 0.15, "spammer": 0.2}``), a sequence giving the type of each worker, or an
        explicit array of confusion matrices of shape ``(n_workers, K, K)`` whose column ``k``
        is ``P(answer | truth k)`` (types are then reported as ``"custom"``). Workers drawn
        from shares are assigned to IDs in random order.
    class_prior : array-like of shape (K,), optional
        Class probabilities of the true labels (normalised to sum to one). Default uniform.
    missing : float, optional
        Fraction in [0, 1) of the drawn answers that are then dropped independently at random
        (missing completely at random); a task that would lose all its answers keeps one.
        Combine with ``answers_per_task=None`` for a dense design with random holes.
    random_state : int, numpy.random.Generator, numpy.random.SeedSequence or None
        Seed for :func:`numpy.random.default_rng`; the output is fully determined by it.
    worker_activity : array-like of shape (n_workers,), optional
        Non-negative weights: tasks pick their workers without replacement with probabilities
        proportional to these (successive weighted draws). Default uniform. Workers with weight
        zero never answer.

    Returns
    -------
    CrowdData
        Answers, true labels, confusion matrices, worker IDs and types, class prior.

    Raises
    ------
    crowdmix.exceptions.InputError
        (a :class:`ValueError`) for inconsistent arguments, e.g. more answers per task than
        workers, or confusion matrices whose shape disagrees with ``n_workers``/``n_classes``.

    Examples
    --------
    >>> crowd = make_crowd(n_tasks=200, n_workers=10, n_classes=2, random_state=0)
    >>> crowd.answers.columns.tolist()
    ['task', 'worker', 'label']
    >>> crowd.confusions.shape
    (10, 2, 2)
    """
    n_workers = _check_int(n_workers, "n_workers")
    n_classes = _check_int(n_classes, "n_classes", minimum=2)
    rng = np.random.default_rng(random_state)
    prior = _check_prior(class_prior, n_classes)

    if worker_types is None:
        worker_types = _DEFAULT_WORKER_TYPES
    if isinstance(worker_types, Mapping):
        counts = _type_counts(worker_types, n_workers)
        types = np.repeat(np.array(list(counts), dtype=object), list(counts.values()))
        types = rng.permutation(types).tolist()
        confusions = np.stack([_GENERATORS[t](rng, n_classes) for t in types])
    elif isinstance(worker_types, np.ndarray) and worker_types.ndim == 3:
        confusions = _check_confusions(worker_types, n_workers, n_classes)
        types = ["custom"] * n_workers
    elif isinstance(worker_types, str):
        raise InputError(
            f"worker_types={worker_types!r}: pass a dict of shares such as {{{worker_types!r}: 1.0}}"
        )
    else:
        seq = list(worker_types)
        if seq and all(isinstance(t, str) for t in seq):
            if len(seq) != n_workers:
                raise InputError(f"worker_types lists {len(seq)} types but n_workers={n_workers}")
            unknown = sorted(set(seq) - set(WORKER_TYPES))
            if unknown:
                raise InputError(
                    f"unknown worker type(s) {unknown}; use types among {list(WORKER_TYPES)}"
                )
            types = seq
            confusions = np.stack([_GENERATORS[t](rng, n_classes) for t in types])
        else:
            confusions = _check_confusions(seq, n_workers, n_classes)
            types = ["custom"] * n_workers

    return _simulate(
        confusions, prior, types, n_tasks, answers_per_task, worker_activity, missing, rng
    )


def make_one_coin_crowd(
    n_tasks: int = 1000,
    n_workers: int = 20,
    n_classes: int = 2,
    accuracies: float | Sequence[float] | np.ndarray | None = None,
    answers_per_task: int | tuple[int, int] | None = 5,
    random_state: _RandomState = None,
) -> CrowdData:
    """Simulate a crowd of one-coin workers under a uniform class prior.

    Worker ``j`` answers correctly with probability ``accuracies[j]`` whatever the true class,
    and otherwise picks one of the ``K - 1`` wrong labels uniformly at random.

    Parameters
    ----------
    n_tasks : int, default 1000
        Number of tasks.
    n_workers : int, default 20
        Number of workers.
    n_classes : int, default 2
        Number of classes ``K``; labels are ``0 .. K-1``.
    accuracies : float or array-like of shape (n_workers,), optional
        Accuracy of each worker (a scalar applies to all) in [0, 1]. Default: evenly spread
        from ``1 / K`` (pure random guessing) to 0.95.
    answers_per_task : int, (int, int) or None, default 5
        As in :func:`make_crowd`: fixed number, inclusive range, or ``None`` for dense.
    random_state : int, numpy.random.Generator, numpy.random.SeedSequence or None
        Seed for :func:`numpy.random.default_rng`.

    Returns
    -------
    CrowdData
        Worker types are ``"spammer"`` for workers with accuracy exactly ``1 / K`` and
        ``"one_coin"`` otherwise.
    """
    n_workers = _check_int(n_workers, "n_workers")
    n_classes = _check_int(n_classes, "n_classes", minimum=2)
    rng = np.random.default_rng(random_state)
    if accuracies is None:
        acc = np.linspace(1.0 / n_classes, 0.95, n_workers)
    else:
        acc = np.broadcast_to(np.asarray(accuracies, dtype=float), (n_workers,)).copy()
    if not np.all((acc >= 0) & (acc <= 1)):
        raise InputError(f"accuracies must lie in [0, 1], got {acc}")
    confusions = np.stack([_one_coin(a, n_classes) for a in acc])
    types = ["spammer" if np.isclose(a, 1.0 / n_classes) else "one_coin" for a in acc]
    prior = np.full(n_classes, 1.0 / n_classes)
    return _simulate(confusions, prior, types, n_tasks, answers_per_task, None, None, rng)


def make_sparse_expert_crowd(
    n_tasks: int = 1000,
    n_workers: int = 100,
    n_experts: int = 5,
    n_classes: int = 2,
    expert_accuracy: float | tuple[float, float] = (0.6, 0.9),
    missing: float = 0.0,
    random_state: _RandomState = None,
) -> CrowdData:
    """Simulate a few informative experts hidden in a dense crowd of pure noise.

    The experts are one-coin workers with accuracy drawn uniformly from ``expert_accuracy``;
    every other worker answers uniformly at random, ignoring the truth. Every worker answers
    every task, then a fraction ``missing`` of the (task, worker) cells is dropped at random.
    The class prior is uniform. The experts sit at random positions among the workers (see
    ``worker_types`` of the result).

    Parameters
    ----------
    n_tasks : int, default 1000
        Number of tasks.
    n_workers : int, default 100
        Total number of workers, experts included.
    n_experts : int, default 5
        Number of experts (``0 <= n_experts <= n_workers``).
    n_classes : int, default 2
        Number of classes ``K``; labels are ``0 .. K-1``.
    expert_accuracy : float or (float, float), default (0.6, 0.9)
        Expert accuracy, or the range it is drawn from uniformly.
    missing : float, default 0.0
        Fraction in [0, 1) of (task, worker) cells dropped independently at random; every task
        keeps at least one answer.
    random_state : int, numpy.random.Generator, numpy.random.SeedSequence or None
        Seed for :func:`numpy.random.default_rng`.

    Returns
    -------
    CrowdData
        Worker types are ``"expert"`` or ``"spammer"``.
    """
    n_workers = _check_int(n_workers, "n_workers")
    n_classes = _check_int(n_classes, "n_classes", minimum=2)
    n_experts = _check_int(n_experts, "n_experts", minimum=0)
    if n_experts > n_workers:
        raise InputError(f"n_experts={n_experts} exceeds n_workers={n_workers}")
    if np.ndim(expert_accuracy) == 0:
        low = high = float(expert_accuracy)  # type: ignore[arg-type]
    else:
        low, high = (float(a) for a in expert_accuracy)  # type: ignore[union-attr]
    if not 0.0 <= low <= high <= 1.0:
        raise InputError(
            f"expert_accuracy must be in [0, 1] with low <= high, got {expert_accuracy!r}"
        )
    rng = np.random.default_rng(random_state)
    is_expert = np.zeros(n_workers, dtype=bool)
    is_expert[rng.choice(n_workers, size=n_experts, replace=False)] = True
    acc = np.full(n_workers, 1.0 / n_classes)
    acc[is_expert] = rng.uniform(low, high, size=n_experts)
    confusions = np.stack([_one_coin(a, n_classes) for a in acc])
    confusions[~is_expert] = 1.0 / n_classes
    types = np.where(is_expert, "expert", "spammer").tolist()
    prior = np.full(n_classes, 1.0 / n_classes)
    return _simulate(confusions, prior, types, n_tasks, None, None, missing, rng)


# --------------------------------------------------------------------------------------------
# Real benchmarks
# --------------------------------------------------------------------------------------------


def _is_benchmark_dir(path: Path) -> bool:
    return (path / "labels.csv").is_file() and (path / "truth.csv").is_file()


def _as_crowd_root(path: Path) -> Path | None:
    """``path`` or ``path/crowd`` if it holds at least one benchmark folder, else None."""
    for candidate in (path, path / "crowd"):
        try:
            if candidate.is_dir() and any(
                _is_benchmark_dir(child) for child in candidate.iterdir() if child.is_dir()
            ):
                return candidate
        except OSError:
            continue
    return None


def _find_root(root: str | os.PathLike[str] | None) -> Path:
    """Locate the folder holding the benchmark datasets (see load_crowd_benchmark)."""
    if root is not None:
        path = Path(root).expanduser()
        found = _as_crowd_root(path)
        if found is None:
            raise FileNotFoundError(
                f"no crowd benchmark datasets under root={str(path)!r} (expected sub-folders "
                f"such as 'bird/' holding labels.csv and truth.csv, directly or under 'crowd/')"
            )
        return found
    looked: list[str] = []
    env = os.environ.get(SHARED_DATA_ENV)
    if env:
        path = Path(env).expanduser()
        found = _as_crowd_root(path)
        if found is not None:
            return found
        looked.append(f"${SHARED_DATA_ENV}={env}")
    starts = [Path.cwd().resolve(), Path(__file__).resolve().parent]
    for start in starts:
        for parent in (start, *start.parents):
            candidate = parent / "shared" / "data" / "crowd"
            if str(candidate) in looked:
                continue
            looked.append(str(candidate))
            found = _as_crowd_root(candidate)
            if found is not None:
                return found
    raise FileNotFoundError(
        "could not find the crowd benchmark data folder; set the environment variable "
        f"{SHARED_DATA_ENV} or pass root=... (a folder holding e.g. bird/labels.csv and "
        f"bird/truth.csv). Looked in: " + ", ".join(looked)
    )


def list_crowd_benchmarks(root: str | os.PathLike[str] | None = None) -> list[str]:
    """Names of the benchmark datasets available under the shared data folder.

    Parameters
    ----------
    root : path-like, optional
        Folder holding the datasets; located as in :func:`load_crowd_benchmark` if omitted.

    Returns
    -------
    list of str
        Sorted names of the sub-folders that hold both ``labels.csv`` and ``truth.csv``.

    Raises
    ------
    FileNotFoundError
        If no data folder can be found.
    """
    base = _find_root(root)
    return sorted(
        child.name for child in base.iterdir() if child.is_dir() and _is_benchmark_dir(child)
    )


def load_crowd_benchmark(name: str, root: str | os.PathLike[str] | None = None) -> CrowdBenchmark:
    """Load a real crowdsourcing benchmark (bird, rte, dog, web, trec).

    IDs and labels are read as strings exactly as stored; treat them as opaque identifiers.

    Parameters
    ----------
    name : str
        Dataset name, i.e. a sub-folder holding ``labels.csv`` (``task,worker,label``) and
        ``truth.csv`` (``task,label``).
    root : path-like, optional
        Folder holding the dataset folders (a folder whose ``crowd/`` sub-folder holds them is
        accepted too). If omitted: the environment variable ``CROWDMIX_SHARED_DATA`` if set,
        else the first ``shared/data/crowd`` folder found next to the current working directory
        or any of its parents, then next to this module's location or any of its parents.

    Returns
    -------
    CrowdBenchmark
        ``answers`` (DataFrame of str columns task, worker, label) and ``truth`` (str Series
        indexed by task).

    Raises
    ------
    FileNotFoundError
        If the data folder or the dataset cannot be found; the message says where it looked
        or which datasets exist.
    """
    base = _find_root(root)
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise InputError(f"benchmark name must be a plain folder name, got {name!r}")
    folder = base / name
    if not _is_benchmark_dir(folder):
        available = list_crowd_benchmarks(base)
        raise FileNotFoundError(
            f"no benchmark {name!r} under {str(base)!r} (needs {name}/labels.csv and "
            f"{name}/truth.csv); available: {available}"
        )
    answers = pd.read_csv(folder / "labels.csv", dtype=str, keep_default_na=False)
    truth_df = pd.read_csv(folder / "truth.csv", dtype=str, keep_default_na=False)
    for frame, file, cols in (
        (answers, "labels.csv", ["task", "worker", "label"]),
        (truth_df, "truth.csv", ["task", "label"]),
    ):
        absent = [c for c in cols if c not in frame.columns]
        if absent:
            raise InputError(f"{folder / file} lacks column(s) {absent}; expected {cols}")
    answers = answers[["task", "worker", "label"]].reset_index(drop=True)
    truth = pd.Series(
        truth_df["label"].to_numpy(),
        index=pd.Index(truth_df["task"].to_numpy(), name="task"),
        name="label",
    )
    return CrowdBenchmark(name=name, answers=answers, truth=truth)
