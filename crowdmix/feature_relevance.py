"""Which features carry a clustering: per-feature informativeness and feature selection.

In sparse clustering only a few features depend on the cluster (ALGORITHMS.md §4): 30 of 500
neurons may be tuned to the stimulus, the rest fire regardless. After fitting a
:class:`~crowdmix.discrete_mixture.DiscreteMixture`, :func:`feature_informativeness` measures
for every feature the mutual information between the feature and the latent cluster,

    I(X_i; Y) = sum_k w_k sum_a C_i(a|k) log( C_i(a|k) / sum_l w_l C_i(a|l) ),

under the fitted model, and, given data, the same quantity from the posteriors (the soft
contingency table ``N_i(a, k) = sum_s q_s(k) [x_si = a]`` over the samples where feature ``i``
is observed) with a G-test of independence. With ``init="stagewise"`` the expert set that the
stagewise EM of Zhao & Zucker selected is reported as well. :func:`select_features` turns the
table into a feature set for ``DiscreteMixture(features=...)``.

References
----------
Zhao, V. and Zucker, S. W. (2015). Stagewise learning for sparse clustering of
discretely-valued data. arXiv:1506.02975.
Zhao, V. and Zucker, S. W. (2017). Feature selection facilitates learning mixtures of discrete
product distributions. arXiv:1711.09195.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2

from .discrete_mixture import DiscreteMixture
from .exceptions import InputError
from .kernels.mdpd import default_n_chunks, m_step_counts

__all__ = ["feature_informativeness", "select_features", "mutual_information_table"]


def _xlogy_ratio(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``p log(p / q)`` with ``0 log 0 = 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) / np.where(q > 0, q, 1.0)), 0.0)


def mutual_information_table(joint: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Mutual information of every feature with the cluster from joint counts or probabilities.

    Parameters
    ----------
    joint : ndarray (n_codes, c)
        ``joint[start[i] + a, k]``: count (or probability) of value ``a`` of feature ``i`` in
        cluster ``k``; each feature's block is normalised on its own.
    start : int array (n_features + 1,)
        Block boundaries (``FeatureLayout.start``).

    Returns
    -------
    ndarray (n_features,)
        ``I(X_i; Y)`` in nats (0 for a feature with no mass).
    """
    sizes = np.diff(start)
    totals = np.add.reduceat(joint.sum(axis=1), start[:-1]) if len(joint) else np.zeros(0)
    totals = np.where(sizes > 0, totals, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = joint / np.repeat(np.where(totals > 0, totals, 1.0), sizes)[:, None]
    p_value = p.sum(axis=1, keepdims=True)  # p(a) within the feature
    p_cluster = np.add.reduceat(p, start[:-1], axis=0)  # (m, c): p(k) within the feature
    expected = p_value * np.repeat(p_cluster, sizes, axis=0)
    return np.add.reduceat(_xlogy_ratio(p, expected).sum(axis=1), start[:-1])


def _entropy(p: np.ndarray, start: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return np.add.reduceat(terms, start[:-1])


def feature_informativeness(model: DiscreteMixture, X: Any = None) -> pd.DataFrame:
    """Per-feature information about the clusters of a fitted mixture, most informative first.

    Parameters
    ----------
    model : DiscreteMixture
        A fitted mixture.
    X : DataFrame or array-like, optional
        Data (usually the training data) for the posterior-based columns and the G-test.

    Returns
    -------
    pandas.DataFrame
        Indexed by the user's column names, sorted by decreasing ``mutual_information``:

        - ``mutual_information``: ``I(X_i; Y)`` under the fitted model (nats).
        - ``normalized``: that divided by the feature's entropy ``H(X_i)`` under the model
          (the fraction of the feature's uncertainty the cluster explains, in [0, 1]).
        - ``n_categories``; ``in_model``: whether the feature is among the model's ``features_``.
        - ``expert`` and ``expert_rank`` (order of entry, 1-based) when the model was fitted
          with ``init="stagewise"``.
        - With ``X``: ``n_observed``, ``mi_data`` (from the posteriors' soft contingency table),
          ``g_statistic`` = ``2 n_observed mi_data`` and ``p_value`` of the G-test of
          independence with ``(r_i - 1)(c - 1)`` degrees of freedom. The clusters were fitted
          to the same data, so these p-values are optimistic: use them to rank and screen, not as
          confirmatory tests.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from crowdmix.discrete_mixture import DiscreteMixture
    >>> from crowdmix.feature_relevance import feature_informativeness
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(2, size=400)
    >>> X = pd.DataFrame(rng.integers(2, size=(400, 6)), columns=list("abcdef"))
    >>> X["b"] = np.where(rng.random(400) < 0.9, y, 1 - y)
    >>> X["e"] = np.where(rng.random(400) < 0.9, y, 1 - y)
    >>> model = DiscreteMixture(2, random_state=0).fit(X)
    >>> table = feature_informativeness(model, X)
    >>> sorted(table.index[:2])
    ['b', 'e']
    """
    if not isinstance(model, DiscreteMixture):
        raise InputError(f"model must be a fitted DiscreteMixture, got {type(model).__name__}")
    model._check_fitted()
    layout = model.layout_
    start, sizes = layout.start, layout.sizes
    names = model._encoder.feature_names_
    w = model.weights_
    cond = np.exp(model.log_params_)  # (n_codes, c), columns of each block sum to one
    cond = cond / np.repeat(np.add.reduceat(cond, start[:-1], axis=0), sizes, axis=0)
    joint = cond * w[None, :]
    mi = mutual_information_table(joint, start)
    marginal = joint.sum(axis=1)
    ent = _entropy(marginal, start)
    with np.errstate(divide="ignore", invalid="ignore"):
        normalized = np.where(ent > 1e-12, mi / np.where(ent > 0, ent, 1.0), 0.0)
    table = pd.DataFrame(
        {
            "mutual_information": mi,
            "normalized": np.clip(normalized, 0.0, 1.0),
            "n_categories": sizes,
            "in_model": np.isin(np.arange(layout.n_features), model._feat_idx),
        },
        index=pd.Index(names, name="feature"),
    )
    if model.experts_ is not None:
        rank = pd.Series(np.arange(1, len(model.experts_) + 1), index=model.experts_)
        table["expert"] = table.index.isin(model.experts_)
        table["expert_rank"] = rank.reindex(table.index).astype("Int64").to_numpy()
    if X is not None:
        data = model._encode_new(X)
        resp = model.predict_proba(X)
        counts = m_step_counts(data.offsets, data.codes, resp, layout.n_codes,
                               default_n_chunks(data.n_samples))
        n_obs = data.observed.sum(axis=0)
        mi_data = mutual_information_table(counts, start)
        g = 2.0 * n_obs * mi_data
        df = np.maximum((sizes - 1) * (model.n_components - 1), 1)
        table["n_observed"] = n_obs
        table["mi_data"] = mi_data
        table["g_statistic"] = g
        table["p_value"] = np.where((sizes > 1) & (model.n_components > 1), chi2.sf(g, df), 1.0)
    return table.sort_values("mutual_information", ascending=False, kind="stable")


def select_features(
    model: DiscreteMixture,
    X: Any = None,
    *,
    n_features: int | None = None,
    threshold: float | None = None,
    alpha: float = 0.01,
) -> pd.Index:
    """Features that carry the clustering of a fitted mixture, most informative first.

    Exactly one rule applies: the ``n_features`` most informative features; or those whose
    mutual information with the cluster is at least ``threshold`` nats; or (default, needs
    ``X``) those whose G-test of independence from the posteriors is significant at level
    ``alpha`` after a Bonferroni correction over the features. Refit on them with
    ``DiscreteMixture(features=selected)`` (sparse clustering: the E-step uses only them).

    Parameters
    ----------
    model : DiscreteMixture
        A fitted mixture.
    X : DataFrame or array-like, optional
        Data for the default G-test rule.
    n_features : int, optional
    threshold : float, optional
    alpha : float, default=0.01

    Returns
    -------
    pandas.Index
        Selected column names.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from crowdmix.discrete_mixture import DiscreteMixture
    >>> from crowdmix.feature_relevance import select_features
    >>> rng = np.random.default_rng(1)
    >>> y = rng.integers(2, size=500)
    >>> X = pd.DataFrame(rng.integers(2, size=(500, 20))).add_prefix("n")
    >>> for c in ("n3", "n7", "n12"):
    ...     X[c] = np.where(rng.random(500) < 0.85, y, 1 - y)
    >>> model = DiscreteMixture(2, random_state=0).fit(X)
    >>> sorted(select_features(model, X))
    ['n12', 'n3', 'n7']
    >>> sparse = DiscreteMixture(2, features=select_features(model, X), random_state=0).fit(X)
    """
    rules = sum(v is not None for v in (n_features, threshold))
    if rules > 1:
        raise InputError("give at most one of n_features and threshold")
    table = feature_informativeness(model, X)
    if n_features is not None:
        if not (isinstance(n_features, (int, np.integer)) and 1 <= n_features <= len(table)):
            raise InputError(f"n_features must be in 1..{len(table)}, got {n_features!r}")
        return pd.Index(table.index[:n_features])
    if threshold is not None:
        if not threshold >= 0:
            raise InputError(f"threshold must be >= 0 nats, got {threshold!r}")
        return pd.Index(table.index[table["mutual_information"] >= threshold])
    if X is None:
        raise InputError(
            "the default rule (G-test) needs the data: select_features(model, X), or give "
            "n_features=... or threshold=..."
        )
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be in (0, 1), got {alpha!r}")
    keep = table["p_value"].to_numpy() < alpha / len(table)
    return pd.Index(table.index[keep])
