"""Pictures of the worker ranking by pairwise mutual information (needs matplotlib).

- :func:`plot_score_curve`: the sorted scores, with the number of experts marked.
- :func:`plot_mi_matrix`: the workers x workers mutual information, ordered by rank, so the
  block of mutually informative experts shows in the top-left corner.

References
----------
Zhao, V. and Zucker, S. W. (2017). Feature selection facilitates learning mixtures of discrete
product distributions. arXiv:1711.09195.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["plot_score_curve", "plot_mi_matrix"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'crowdmix[plot]'") from err
    return plt


def plot_score_curve(ranking: pd.DataFrame, n_experts: int | None = None, ax: Any = None,
                     column: str = "score"):
    """Sorted worker scores (highest first), with the cut at ``n_experts`` marked.

    Parameters
    ----------
    ranking : DataFrame
        Output of :func:`crowdmix.rank_workers` (or ``experts_info_["scores"]`` as a frame).
    n_experts : int, optional
        Number of experts to mark with a vertical line (e.g. ``len(model.experts_)``).
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made if omitted.
    column : str, default="score"
        Which column to plot (``"sum_mi"``, ``"pooled_mi"``, ...).

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from crowdmix.mutual_information import rank_workers
    >>> from crowdmix.datasets import make_one_coin_crowd
    >>> from crowdmix.plotting.ranking import plot_score_curve
    >>> ranking = rank_workers(make_one_coin_crowd(n_tasks=200, random_state=0).answers)
    >>> ax = plot_score_curve(ranking, n_experts=5)
    >>> len(ax.lines)
    2
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    scores = np.sort(np.asarray(ranking[column], dtype=float))[::-1]
    ranks = np.arange(1, len(scores) + 1)
    ax.plot(ranks, scores, marker="o", markersize=3, linewidth=1)
    if n_experts is not None:
        ax.axvline(n_experts + 0.5, color="tab:red", linestyle="--", linewidth=1,
                   label=f"{n_experts} experts")
        ax.legend(loc="upper right")
    ax.set_xlabel("worker rank")
    ax.set_ylabel(f"{column} (nats)")
    ax.set_title("workers by pairwise mutual information")
    return ax


def plot_mi_matrix(mi: pd.DataFrame, ranking: pd.DataFrame | None = None, top: int | None = None,
                   ax: Any = None):
    """The pairwise mutual information matrix with workers ordered by rank.

    Parameters
    ----------
    mi : DataFrame
        Output of :func:`crowdmix.pairwise_mutual_information` (dense or sparse columns).
    ranking : DataFrame, optional
        Output of :func:`crowdmix.rank_workers`; its order is used (default: by row sums of
        ``mi``).
    top : int, optional
        Show only the first ``top`` workers (for large crowds).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from crowdmix.mutual_information import pairwise_mutual_information
    >>> from crowdmix.datasets import make_one_coin_crowd
    >>> from crowdmix.plotting.ranking import plot_mi_matrix
    >>> crowd = make_one_coin_crowd(n_tasks=200, n_workers=10, random_state=0)
    >>> ax = plot_mi_matrix(pairwise_mutual_information(crowd.answers))
    >>> ax.get_images()[0].get_array().shape
    (10, 10)
    """
    plt = _pyplot()
    frame = mi.sparse.to_dense() if hasattr(mi, "sparse") and any(
        isinstance(t, pd.SparseDtype) for t in mi.dtypes) else mi
    order = list(ranking.index) if ranking is not None else list(
        frame.sum(axis=1).sort_values(ascending=False).index)
    if top is not None:
        order = order[:top]
    values = frame.loc[order, order].to_numpy(dtype=float)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    image = ax.imshow(values, cmap="viridis", interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label="mutual information (nats)")
    ax.set_xlabel("worker (by rank)")
    ax.set_ylabel("worker (by rank)")
    if len(order) <= 30:
        ax.set_xticks(range(len(order)), [str(w) for w in order], rotation=90, fontsize=7)
        ax.set_yticks(range(len(order)), [str(w) for w in order], fontsize=7)
    ax.set_title("pairwise mutual information")
    return ax
