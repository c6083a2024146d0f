"""Feature informativeness and selection against numpy references and planted tuned features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from crowdmix.discrete_mixture import DiscreteMixture
from crowdmix.exceptions import InputError
from crowdmix.feature_relevance import (
    feature_informativeness,
    mutual_information_table,
    select_features,
)


def _mi_ref(joint: np.ndarray) -> float:
    """Plain mutual information of a 2-D table of counts or probabilities."""
    p = joint / joint.sum()
    pa, pk = p.sum(axis=1), p.sum(axis=0)
    out = 0.0
    for a in range(p.shape[0]):
        for k in range(p.shape[1]):
            if p[a, k] > 0:
                out += p[a, k] * np.log(p[a, k] / (pa[a] * pk[k]))
    return out


def test_mutual_information_table_matches_reference():
    rng = np.random.default_rng(0)
    sizes = [2, 3, 1, 4]
    start = np.concatenate([[0], np.cumsum(sizes)])
    joint = rng.random((start[-1], 3)) * 5
    joint[start[3]:, 1] = 0.0  # a zero column inside a block
    got = mutual_information_table(joint, start)
    ref = [_mi_ref(joint[start[i]:start[i + 1]]) for i in range(4)]
    np.testing.assert_allclose(got, ref, atol=1e-12)
    assert got[2] == pytest.approx(0.0, abs=1e-15)  # a single category carries no information


@pytest.fixture(scope="module")
def tuned():
    rng = np.random.default_rng(3)
    n, m = 800, 60
    y = rng.integers(3, size=n)
    rates = rng.uniform(0.05, 0.4, m)
    X = pd.DataFrame((rng.random((n, m)) < rates).astype(int),
                     columns=[f"unit{i:02d}" for i in range(m)])
    tuned_cols = ["unit04", "unit10", "unit23", "unit31", "unit47", "unit55"]
    for j, col in enumerate(tuned_cols):
        prefers = j % 3  # fires for one class
        p = np.where(y == prefers, 0.85, 0.1)
        X[col] = (rng.random(n) < p).astype(int)
    X = X.mask(rng.random(X.shape) < 0.1)  # 10% missing
    return X, y, tuned_cols


def test_informativeness_ranks_tuned_features_first(tuned):
    X, y, cols = tuned
    model = DiscreteMixture(3, random_state=0).fit(X)
    table = feature_informativeness(model, X)
    assert set(table.index[:6]) == set(cols)
    assert list(table.columns[:4]) == ["mutual_information", "normalized", "n_categories", "in_model"]
    assert (table["normalized"].between(0, 1)).all()
    assert (table.loc[cols, "p_value"] < 1e-6).all()
    assert table["n_observed"].max() <= len(X)
    # model-based MI equals the reference on the fitted parameters
    col = cols[0]
    joint = model.category_probs_[col].to_numpy() * model.weights_[None, :]
    assert table.loc[col, "mutual_information"] == pytest.approx(_mi_ref(joint), rel=1e-10)
    # data-based MI equals the reference on the posterior-weighted contingency table
    resp = model.predict_proba(X)
    x = X[col].to_numpy()
    obs = ~np.isnan(x)
    soft = np.stack([resp[obs & (x == v)].sum(axis=0) for v in (0, 1)])
    assert table.loc[col, "mi_data"] == pytest.approx(_mi_ref(soft), rel=1e-9)


def test_select_features_rules(tuned):
    X, y, cols = tuned
    model = DiscreteMixture(3, random_state=0).fit(X)
    assert set(select_features(model, X)) == set(cols)
    assert len(select_features(model, n_features=4)) == 4
    table = feature_informativeness(model)
    thr = table["mutual_information"].iloc[2]
    assert list(select_features(model, threshold=thr)) == list(table.index[:3])
    with pytest.raises(InputError, match="needs the data"):
        select_features(model)
    with pytest.raises(InputError, match="at most one"):
        select_features(model, n_features=2, threshold=0.1)
    with pytest.raises(InputError, match="n_features"):
        select_features(model, n_features=0)


def test_refit_on_selected_features(tuned):
    X, y, cols = tuned
    full = DiscreteMixture(3, random_state=0).fit(X)
    sparse = DiscreteMixture(3, features=select_features(full, X), random_state=0).fit(X)
    assert adjusted_rand_score(y, sparse.labels_) >= adjusted_rand_score(y, full.labels_) - 0.02
    table = feature_informativeness(sparse, X)
    assert table.loc[cols, "in_model"].all() and table["in_model"].sum() == len(cols)


def test_stagewise_expert_columns(tuned):
    pytest.importorskip("crowdmix.stagewise")
    X, y, cols = tuned
    model = DiscreteMixture(3, init="stagewise").fit(X)
    table = feature_informativeness(model)
    assert {"expert", "expert_rank"} <= set(table.columns)
    experts = table.index[table["expert"]]
    assert len(experts) == len(model.experts_)
    assert table.loc[model.experts_[0], "expert_rank"] == 1
    assert set(model.experts_[:2]) <= set(cols)


def test_requires_fitted_mixture():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(InputError, match="DiscreteMixture"):
        feature_informativeness(object())
    with pytest.raises(NotFittedError):
        feature_informativeness(DiscreteMixture())
