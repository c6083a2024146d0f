"""Choosing the number of components of a :class:`~crowdmix.discrete_mixture.DiscreteMixture`.

In clustering the number of components ``c`` is unknown (ALGORITHMS.md §4). :func:`select_n_components`
fits a mixture for every candidate ``c`` and scores it by

- **BIC** ``-2 log L + p log n`` (Schwarz, 1978): consistent for the number of components of a
  latent class model; lower is better.
- **ICL** BIC plus twice the entropy of the posteriors (Biernacki, Celeux & Govaert, 2000):
  prefers well-separated clusters; lower is better.
- **AIC** ``-2 log L + 2 p``: tends to over-fit; reported for comparison; lower is better.
- **held-out log-likelihood** (mean per sample over ``cv`` folds; Smyth, 2000): no asymptotics,
  higher is better; its standard error across folds is reported too.

References
----------
Schwarz, G. (1978). Estimating the dimension of a model. *Annals of Statistics* 6(2), 461-464.
Biernacki, C., Celeux, G. and Govaert, G. (2000). Assessing a mixture model for clustering with
the integrated completed likelihood. *IEEE TPAMI* 22(7), 719-725.
Smyth, P. (2000). Model selection for probabilistic clustering using cross-validated
likelihood. *Statistics and Computing* 10, 63-72.
Zhao, V. and Zucker, S. W. (2015). Stagewise learning for sparse clustering of
discretely-valued data. arXiv:1506.02975.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import KFold

from .categorical import CategoricalEncoder, UnseenCategoryWarning, as_frame
from .discrete_mixture import DiscreteMixture
from .exceptions import ConvergenceWarning, InputError

__all__ = ["ComponentSelection", "select_n_components", "CRITERIA"]

#: Criteria understood by :func:`select_n_components` and whether lower values are better.
CRITERIA: dict[str, bool] = {"bic": True, "icl": True, "aic": True, "heldout": False}


@dataclass
class ComponentSelection:
    """Result of :func:`select_n_components`.

    Attributes
    ----------
    criteria : pandas.DataFrame
        One row per number of components (index ``n_components``) with columns
        ``log_likelihood`` (mean per sample on all the data), ``n_parameters``, and the computed
        criteria among ``bic``, ``icl``, ``aic`` (lower is better), ``heldout`` (mean held-out
        log-likelihood per sample, higher is better) and ``heldout_se`` (its standard error over
        the folds).
    best : dict criterion -> int
        The best number of components for each criterion.
    models : dict int -> DiscreteMixture
        The mixture fitted on all the data for each number of components.
    """

    criteria: pd.DataFrame
    best: dict[str, int]
    models: dict[int, DiscreteMixture] = field(repr=False)

    def best_model(self, criterion: str = "bic") -> DiscreteMixture:
        """The mixture fitted on all the data with the number of components ``criterion`` chose."""
        if criterion not in self.best:
            raise InputError(f"criterion must be one of {list(self.best)}, got {criterion!r}")
        return self.models[self.best[criterion]]

    def plot(self, criteria: Sequence[str] | None = None, axes: Any = None):
        """Criterion versus number of components (needs matplotlib); see
        :func:`crowdmix.plotting.model_selection.plot_component_selection`."""
        from .plotting.model_selection import plot_component_selection

        return plot_component_selection(self, criteria=criteria, axes=axes)

    def __repr__(self) -> str:
        best = ", ".join(f"{k}={v}" for k, v in self.best.items())
        return f"ComponentSelection(n_components={list(self.criteria.index)}, best: {best})"


def _check_candidates(n_components: Iterable[int]) -> list[int]:
    try:
        cands = sorted({int(c) for c in n_components})
    except (TypeError, ValueError):
        raise InputError(
            f"n_components must be an iterable of positive integers, got {n_components!r}"
        ) from None
    if not cands or cands[0] < 1:
        raise InputError(f"n_components must hold positive integers, got {cands}")
    return cands


def select_n_components(
    X: Any,
    n_components: Iterable[int] = range(1, 9),
    *,
    estimator: DiscreteMixture | None = None,
    criteria: Sequence[str] = ("bic", "icl", "aic", "heldout"),
    cv: int = 5,
    random_state: Any = None,
) -> ComponentSelection:
    """Fit a mixture for each number of components and score it by BIC, ICL, AIC and held-out
    log-likelihood.

    Parameters
    ----------
    X : DataFrame or array-like (n_samples, n_features)
        Categorical data, as for :class:`~crowdmix.discrete_mixture.DiscreteMixture`.
    n_components : iterable of int, default=range(1, 9)
        Candidate numbers of components.
    estimator : DiscreteMixture, optional
        Template whose parameters (init, n_init, smoothing, features, ...) every fit uses; its
        ``n_components`` is replaced. Default: ``DiscreteMixture(random_state=random_state)``.
    criteria : sequence of {"bic", "icl", "aic", "heldout"}
        Criteria to compute (``"heldout"`` refits the mixture ``cv`` times per candidate).
    cv : int, default=5
        Number of folds for the held-out log-likelihood. Each column's alphabet is fixed from
        all of ``X``, so a value absent from a training fold keeps its smoothed probability.
    random_state : int, Generator or None
        Seed of the fold split and of the default estimator.

    Returns
    -------
    ComponentSelection

    Examples
    --------
    >>> from crowdmix.discrete_mixture import make_discrete_mixture
    >>> from crowdmix.model_selection import select_n_components
    >>> data = make_discrete_mixture(400, 15, 3, concentration=0.2, random_state=0)
    >>> sel = select_n_components(data.X, range(1, 6), criteria=["bic"], random_state=0)
    >>> sel.best["bic"]
    3
    """
    cands = _check_candidates(n_components)
    unknown = [c for c in criteria if c not in CRITERIA]
    if unknown or not criteria:
        raise InputError(f"criteria must be a non-empty subset of {list(CRITERIA)}, got {list(criteria)}")
    if estimator is None:
        estimator = DiscreteMixture(random_state=random_state)
    elif not isinstance(estimator, DiscreteMixture):
        raise InputError(f"estimator must be a DiscreteMixture, got {type(estimator).__name__}")
    frame = as_frame(X)
    if isinstance(estimator.categories, str) and estimator.categories == "auto":
        enc = CategoricalEncoder().fit(frame)
        categories: Any = [list(c) for c in enc.categories_]
    else:
        categories = estimator.categories
    n = len(frame)
    if cands[-1] > n:
        raise InputError(f"n_components up to {cands[-1]} but only {n} samples")
    rows = []
    models: dict[int, DiscreteMixture] = {}
    folds = None
    if "heldout" in criteria:
        if not (isinstance(cv, (int, np.integer)) and 2 <= cv <= n):
            raise InputError(f"cv must be an integer between 2 and n_samples={n}, got {cv!r}")
        seed = None if random_state is None else np.random.default_rng(random_state).integers(2**31)
        folds = list(KFold(int(cv), shuffle=True, random_state=seed).split(np.zeros(n)))
    for c in cands:
        model = clone(estimator).set_params(n_components=c, categories=categories)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X)
        models[c] = model
        resp, ll = model._e_step_new(X)
        p = model.n_parameters()
        row: dict[str, float] = {"n_components": c, "log_likelihood": float(ll.mean()),
                                 "n_parameters": p}
        bic = float(-2.0 * ll.sum() + p * np.log(n))
        if "bic" in criteria:
            row["bic"] = bic
        if "icl" in criteria:
            with np.errstate(divide="ignore", invalid="ignore"):
                ent = -np.sum(np.where(resp > 0, resp * np.log(resp), 0.0))
            row["icl"] = bic + 2.0 * float(ent)
        if "aic" in criteria:
            row["aic"] = float(-2.0 * ll.sum() + 2.0 * p)
        if folds is not None:
            fold_means = []
            for train, test in folds:
                sub = clone(model)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    warnings.simplefilter("ignore", UnseenCategoryWarning)
                    warnings.simplefilter("ignore", UserWarning)
                    sub.fit(frame.iloc[train])
                    fold_means.append(float(np.mean(sub.score_samples(frame.iloc[test]))))
            row["heldout"] = float(np.mean(fold_means))
            row["heldout_se"] = float(np.std(fold_means, ddof=1) / np.sqrt(len(fold_means)))
        rows.append(row)
    table = pd.DataFrame(rows).set_index("n_components")
    best = {}
    for crit in criteria:
        col = table[crit]
        best[crit] = int(col.idxmin() if CRITERIA[crit] else col.idxmax())
    return ComponentSelection(table, best, models)
