"""Worker confusion matrices: the crowdsourcing M-steps and their summaries.

A worker's confusion matrix ``C_i`` is K x K with ``C_i[a, k] = P(answer a | true class k)``
(columns sum to one). In the parameter table of :mod:`crowdmix.em` the row of (worker i,
answer a) is ``i * K + a`` and column ``k`` is the true class, so the table reshaped to
``(n_workers, K, K)`` is the stack of confusion matrices.

Three parameterisations (ALGORITHMS.md §1), each the MAP update under the Dirichlet smoothing
penalty ``alpha * sum log C`` so that EM's penalised likelihood never decreases:

- ``"full"`` (Dawid & Skene 1979): every column free.
- ``"diagonal"`` (class-conditional): one accuracy per worker and true class, errors uniform.
- ``"one_coin"``: one accuracy per worker, errors uniform.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .exceptions import InputError

__all__ = [
    "CONFUSION_MODELS",
    "confusion_m_step",
    "confusion_frame",
    "worker_accuracy",
    "worker_summary",
]

CONFUSION_MODELS = ("full", "diagonal", "one_coin")


def check_confusion(confusion: str) -> str:
    if confusion not in CONFUSION_MODELS:
        raise InputError(f"confusion must be one of {CONFUSION_MODELS}, got {confusion!r}")
    return confusion


def confusion_m_step(
    counts: np.ndarray, n_workers: int, n_classes: int, smoothing: float, confusion: str = "full"
) -> np.ndarray:
    """Confusion matrices from expected counts.

    Parameters
    ----------
    counts : ndarray (n_workers * K, K)
        Expected counts ``N[i * K + a, k]`` of worker i answering a on tasks of class k.
    smoothing : float
        Dirichlet pseudo-count added to every cell.
    confusion : {"full", "diagonal", "one_coin"}

    Returns
    -------
    ndarray (n_workers, K, K)
        Probabilities ``C[i, a, k]``; every column sums to one.
    """
    k = n_classes
    s = counts.reshape(n_workers, k, k) + smoothing
    with np.errstate(invalid="ignore", divide="ignore"):
        if confusion == "full":
            probs = s / s.sum(axis=1, keepdims=True)
        else:
            diag = np.einsum("iaa->ia", s)
            if confusion == "diagonal":
                acc = diag / s.sum(axis=1)  # (m, K): per true class
            elif confusion == "one_coin":
                acc = np.repeat((diag.sum(axis=1) / s.sum(axis=(1, 2)))[:, None], k, axis=1)
            else:
                raise InputError(f"confusion must be one of {CONFUSION_MODELS}, got {confusion!r}")
            probs = np.repeat(((1.0 - acc) / (k - 1))[:, None, :], k, axis=1)
            idx = np.arange(k)
            probs[:, idx, idx] = acc
    bad = ~np.isfinite(probs)
    if bad.any():  # a worker with no (weighted) answers for a class and no smoothing
        probs[bad] = 1.0 / k
    return probs


def worker_accuracy(confusions: np.ndarray, class_prior: np.ndarray) -> np.ndarray:
    """Probability that each worker's answer is right: ``sum_k w_k C_i[k, k]``."""
    return np.einsum("ikk,k->i", confusions, class_prior)


def confusion_frame(confusions: np.ndarray, workers: pd.Index, classes: pd.Index) -> pd.DataFrame:
    """Stack of confusion matrices as a DataFrame: rows (worker, answer), columns true class."""
    m, k, _ = confusions.shape
    index = pd.MultiIndex.from_product([workers, classes], names=["worker", "answer"])
    cols = pd.Index(classes, name="true_class")
    return pd.DataFrame(confusions.reshape(m * k, k), index=index, columns=cols)


def worker_summary(
    confusions: np.ndarray, class_prior: np.ndarray, n_answers: np.ndarray,
    workers: pd.Index, classes: pd.Index,
) -> pd.DataFrame:
    """Per-worker reliability table: ``n_answers``, ``accuracy`` (``sum_k w_k C_i[k, k]``),
    ``balanced_accuracy`` (mean of the diagonal) and ``recall_<class>`` (``C_i[k, k]``)."""
    k = confusions.shape[1]
    summary = {
        "n_answers": n_answers,
        "accuracy": worker_accuracy(confusions, class_prior),
        "balanced_accuracy": np.einsum("ikk->i", confusions) / k,
    }
    for c, name in enumerate(classes):
        summary[f"recall_{name}"] = confusions[:, c, c]
    return pd.DataFrame(summary, index=pd.Index(workers, name="worker"))
