"""DiscreteMixture: the shared EM, recovery, missing values, bad input, scikit-learn conventions."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

import crowdmix.discrete_mixture as dm_module
from crowdmix.categorical import UnseenCategoryWarning, encode_matrix
from crowdmix.discrete_mixture import (
    DiscreteMixture,
    EmptyRowsWarning,
    kmodes_posteriors,
    make_discrete_mixture,
)
from crowdmix.em import dirichlet_penalty, normalize_columns, normalize_weights, run_em
from crowdmix.exceptions import ConvergenceWarning, InputError
from crowdmix.kernels.reference import e_step_ref, m_step_counts_ref


@pytest.fixture(scope="module")
def planted():
    return make_discrete_mixture(
        600, 12, 3, n_categories=3, concentration=0.4, weights=[0.5, 0.3, 0.2], random_state=3
    )


def _aligned(true_labels, labels, c):
    table = np.zeros((c, c))
    np.add.at(table, (true_labels, labels), 1)
    rows, cols = linear_sum_assignment(-table)
    perm = np.empty(c, dtype=int)
    perm[rows] = cols  # true class r is fitted component perm[r]
    return perm


# ---------------------------------------------------------------- the shared EM (no second EM)
def _reference_em(offsets, codes, layout, resp, alpha, n_iter):
    """Plain-numpy EM with the references of the kernels: an independent check of the wiring."""
    history = []
    for _ in range(n_iter):
        counts = m_step_counts_ref(offsets, codes, resp, layout.n_codes)
        sm = counts + alpha
        totals = np.repeat(np.add.reduceat(sm, layout.start[:-1], axis=0), layout.sizes, axis=0)
        lp = np.log(sm / totals)
        w = resp.sum(axis=0) + alpha
        lw = np.log(w / w.sum())
        resp, ll = e_step_ref(offsets, codes, lp, lw)
        history.append((ll.sum() + alpha * (lp.sum() + lw.sum())) / len(ll))
    return lp, lw, resp, np.array(history)


def test_fit_equals_plain_numpy_em_from_same_start(planted):
    X = planted.X.iloc[:200]
    data, _ = encode_matrix(X)
    resp0 = np.random.default_rng(0).dirichlet(np.ones(3), size=200)
    model = DiscreteMixture(3, init=resp0, max_iter=15, tol=0.0, smoothing=0.3)
    with pytest.warns(ConvergenceWarning):
        model.fit(X)
    lp, lw, resp, hist = _reference_em(data.offsets, data.codes, data.layout, resp0, 0.3, 15)
    # components are sorted by weight in the model
    order = np.argsort(-lw, kind="stable")
    np.testing.assert_allclose(model.weights_, np.exp(lw[order]), rtol=1e-10)
    np.testing.assert_allclose(model.log_params_, lp[:, order], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.log_likelihood_, hist, rtol=1e-10)
    np.testing.assert_array_equal(model.labels_, np.argmax(resp[:, order], axis=1))


def test_fit_goes_through_shared_run_em(monkeypatch, planted):
    calls = []

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return run_em(*args, **kwargs)

    monkeypatch.setattr(dm_module, "run_em", spy)
    DiscreteMixture(3, n_init=3, random_state=0).fit(planted.X)
    assert len(calls) == 3
    # and the M-step/penalty are the shared ones: same numbers as crowdmix.em's functions
    data, _ = encode_matrix(planted.X)
    coding = dm_module._PlainCoding(data, np.arange(data.n_features), 0.7)
    counts = np.random.default_rng(1).random((data.n_codes, 3)) * 10
    lp, lw = coding.m_step(counts, counts[:3].sum(axis=0))
    np.testing.assert_array_equal(lp, normalize_columns(counts, data.layout, 0.7))
    np.testing.assert_array_equal(lw, normalize_weights(counts[:3].sum(axis=0), 0.7))
    assert coding.penalty(lp, lw) == dirichlet_penalty(lp, lw, 0.7)


@pytest.mark.parametrize("features", [None, [0, 2, 3, 5]])
def test_reference_coding_is_the_same_em(features):
    """Sparse (reference-value) coding: identical likelihoods, posteriors and parameters."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame((rng.random((300, 8)) < rng.uniform(0.03, 0.2, 8)).astype(float))
    X = X.mask(rng.random(X.shape) < 0.05)
    X.iloc[:150, :4] = np.where(rng.random((150, 4)) < 0.6, 1.0, X.iloc[:150, :4])
    data, _ = encode_matrix(X)
    feat_idx = np.arange(8) if features is None else np.array(features)
    plain = dm_module._PlainCoding(data, feat_idx, 0.3)
    coded = dm_module._choose_coding(data, feat_idx, 0.3)
    assert isinstance(coded, dm_module._ReferenceCoding)
    assert len(coded.codes) < 0.5 * len(data.codes)
    resp0 = rng.dirichlet(np.ones(2), size=300)
    fits = []
    for coding in (plain, coded):
        coding.reset()
        fit = run_em(coding.offsets, coding.codes, coding.n_codes, resp0, coding.m_step,
                     coding.penalty, max_iter=30, tol=0.0, e_step_rows=coding.e_rows)
        fits.append(coding.to_full(fit))
    np.testing.assert_allclose(fits[0].history, fits[1].history, rtol=1e-10)
    np.testing.assert_allclose(fits[0].resp, fits[1].resp, atol=1e-9)
    np.testing.assert_allclose(fits[0].log_params, fits[1].log_params, atol=1e-9)
    np.testing.assert_allclose(fits[0].log_weights, fits[1].log_weights, atol=1e-9)


# ---------------------------------------------------------------- recovery and monotonicity
def _oracle_labels(data):
    """Bayes-optimal clusters under the planted parameters (no missing values)."""
    x = data.X.to_numpy().astype(int)
    scores = np.log(data.weights)[None, :] + sum(
        np.log(data.probs[i, x[:, i], :]) for i in range(x.shape[1])
    )
    return np.argmax(scores, axis=1)


def test_recovers_planted_parameters(planted):
    model = DiscreteMixture(3, random_state=0).fit(planted.X)
    oracle = adjusted_rand_score(planted.labels, _oracle_labels(planted))
    assert adjusted_rand_score(planted.labels, model.labels_) >= oracle - 0.02
    perm = _aligned(planted.labels, model.labels_, 3)
    np.testing.assert_allclose(model.weights_[perm], planted.weights, atol=0.05)
    for i, col in enumerate(planted.X.columns):
        est = model.category_probs_[col].to_numpy()[:, perm]  # categories 0, 1, 2 (all observed)
        assert list(model.category_probs_[col].index) == [0, 1, 2]
        np.testing.assert_allclose(est, planted.probs[i], atol=0.1)


@pytest.mark.parametrize("init", ["kmodes", "random"])
@pytest.mark.parametrize("seed", [0, 1])
def test_log_likelihood_never_decreases(init, seed):
    data = make_discrete_mixture(300, 15, 4, n_categories=3, missing=0.3, random_state=seed)
    model = DiscreteMixture(4, init=init, n_init=2, smoothing=0.2, tol=1e-9, max_iter=300,
                            random_state=seed).fit(data.X)
    assert np.all(np.diff(model.log_likelihood_) >= -1e-10)
    assert model.lower_bound_ == model.log_likelihood_[-1]
    assert model.n_iter_ == len(model.log_likelihood_)


def test_best_of_n_init_is_kept(planted):
    single = [DiscreteMixture(3, init="random", n_init=1, random_state=s).fit(planted.X).lower_bound_
              for s in range(3)]
    best = DiscreteMixture(3, init="random", n_init=6, random_state=0).fit(planted.X).lower_bound_
    assert best >= max(single[:1]) - 1e-12


def test_weights_sorted_and_category_probs_keyed_by_user_values():
    rng = np.random.default_rng(0)
    y = rng.choice(2, size=400, p=[0.3, 0.7])
    X = pd.DataFrame({
        f"q{i}": np.where(rng.random(400) < 0.9, y, 1 - y) for i in range(6)
    }).replace({0: "no", 1: "yes"})
    model = DiscreteMixture(2, random_state=0).fit(X)
    assert model.weights_[0] >= model.weights_[1]
    frame = model.category_probs_["q3"]
    assert list(frame.index) == ["no", "yes"] and frame.index.name == "q3"
    np.testing.assert_allclose(frame.sum(axis=0), 1.0)
    # the larger component is the "yes" cluster
    assert frame.loc["yes", 0] > 0.8
    np.testing.assert_array_equal(model.feature_names_in_, X.columns)


def test_kmodes_seeding_gives_every_component_members():
    dense = np.array([[0, 0], [0, 0], [1, 1], [1, 1], [0, 1]])
    resp = kmodes_posteriors(dense, 3, np.random.default_rng(0))
    assert resp.sum(axis=0).min() >= 1
    np.testing.assert_array_equal(resp.sum(axis=1), 1.0)


# ---------------------------------------------------------------- missing values
def test_missing_value_is_marginalised(planted):
    model = DiscreteMixture(3, random_state=0).fit(planted.X)
    row = planted.X.iloc[[7]].copy()
    col = "f04"
    deleted = row.copy()
    deleted[col] = np.nan
    # marginalising = summing the likelihood over every value the feature can take
    completed = pd.concat([row.assign(**{col: v}) for v in (0, 1, 2)], ignore_index=True)
    np.testing.assert_allclose(
        model.score_samples(deleted)[0], logsumexp(model.score_samples(completed)), rtol=1e-12
    )
    # and it equals a model in which that feature does not exist for this sample
    lp, lw = model.log_params_, np.log(model.weights_)
    codes = model._encoder.transform(row).codes
    keep = codes[codes != model.layout_.start[4] + int(row[col].iloc[0])]
    assert len(keep) == 11
    expected = logsumexp(lw + lp[keep].sum(axis=0))
    np.testing.assert_allclose(model.score_samples(deleted)[0], expected, rtol=1e-12)


def test_missing_data_fit_still_recovers_clusters():
    data = make_discrete_mixture(600, 15, 3, concentration=0.3, missing=0.4, random_state=5)
    model = DiscreteMixture(3, random_state=0).fit(data.X)
    assert adjusted_rand_score(data.labels, model.labels_) > 0.8


# ---------------------------------------------------------------- bad input
def test_constant_column_changes_nothing(planted):
    X = planted.X.iloc[:300]
    resp0 = np.random.default_rng(0).dirichlet(np.ones(3), size=300)
    base = DiscreteMixture(3, init=resp0).fit(X)
    with_const = DiscreteMixture(3, init=resp0).fit(X.assign(const="same"))
    np.testing.assert_array_equal(base.labels_, with_const.labels_)
    np.testing.assert_allclose(base.log_likelihood_, with_const.log_likelihood_, rtol=1e-12)
    assert with_const.category_probs_["const"].shape == (1, 3)
    np.testing.assert_allclose(with_const.category_probs_["const"].to_numpy(), 1.0)
    assert with_const.n_parameters() == base.n_parameters()


def test_all_missing_rows_get_the_prior(planted):
    X = planted.X.iloc[:200].copy()
    X.iloc[[5, 9]] = np.nan
    with pytest.warns(EmptyRowsWarning, match=r"2 sample\(s\) have no observed value \(first at row 5\)"):
        model = DiscreteMixture(3, random_state=0).fit(X)
    proba = model.predict_proba(X.iloc[[5]])
    np.testing.assert_allclose(proba[0], model.weights_, rtol=1e-9)
    assert model.score_samples(X.iloc[[9]])[0] == pytest.approx(0.0, abs=1e-12)


def test_all_missing_column_is_an_error():
    X = pd.DataFrame({"a": [0, 1, 0, 1], "dead": [None] * 4})
    with pytest.raises(InputError, match="column 'dead' has no observed value"):
        DiscreteMixture(2).fit(X)


def test_unseen_categories_at_predict(planted):
    model = DiscreteMixture(3, random_state=0).fit(planted.X)
    new = planted.X.iloc[:5].copy()
    new["f01"] = new["f01"].astype(object)
    new.iloc[0, 1] = "never-seen"
    as_missing = new.copy()
    as_missing.iloc[0, 1] = np.nan
    with pytest.warns(UnseenCategoryWarning, match="'f01': \\['never-seen'\\]"):
        proba = model.predict_proba(new)
    np.testing.assert_allclose(proba, model.predict_proba(as_missing))
    model.set_params(handle_unknown="error")
    with pytest.raises(InputError, match="not seen during fit"):
        model.predict(new)
    model.set_params(handle_unknown="ignore")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(model.score_samples(new), model.score_samples(as_missing))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": 0}, "n_components"),
        ({"n_init": 0}, "n_init"),
        ({"max_iter": 1.5}, "max_iter"),
        ({"tol": -1}, "tol"),
        ({"smoothing": -0.1}, "smoothing"),
        ({"init": "kmeans"}, "init must be one of"),
        ({"init": np.ones((3, 2))}, "init posteriors must have shape"),
        ({"features": ["nope"]}, "unknown feature"),
        ({"features": []}, "features is empty"),
        ({"n_components": 500}, "n_samples=40 should be >= n_components=500"),
    ],
)
def test_bad_parameters(params, match):
    X = make_discrete_mixture(40, 4, 2, random_state=0).X
    with pytest.raises(InputError, match=match):
        DiscreteMixture(**params).fit(X)


def test_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        DiscreteMixture().predict([[1]])


# ---------------------------------------------------------------- features= (sparse clustering)
def test_features_restrict_the_e_step(planted):
    X = planted.X
    cols = ["f00", "f03", "f05", "f07"]
    resp0 = np.random.default_rng(2).dirichlet(np.ones(3), size=len(X))
    sub = DiscreteMixture(3, init=resp0).fit(X[cols])
    sparse = DiscreteMixture(3, init=resp0, features=cols).fit(X)
    np.testing.assert_array_equal(sub.labels_, sparse.labels_)
    np.testing.assert_allclose(sub.log_likelihood_, sparse.log_likelihood_, rtol=1e-10)
    np.testing.assert_allclose(sub.score_samples(X[cols]), sparse.score_samples(X), rtol=1e-10)
    assert sub.n_parameters() == sparse.n_parameters()
    assert list(sparse.features_) == cols
    # every feature is still described by the clusters
    assert set(sparse.category_probs_) == set(X.columns)


# ---------------------------------------------------------------- scores and criteria
def test_bic_aic_icl_consistent(planted):
    model = DiscreteMixture(3, random_state=0).fit(planted.X)
    ll = model.score_samples(planted.X)
    n, p = len(ll), model.n_parameters()
    assert p == 2 + 3 * 12 * 2
    assert model.score(planted.X) == pytest.approx(ll.mean())
    assert model.bic(planted.X) == pytest.approx(-2 * ll.sum() + p * np.log(n))
    assert model.aic(planted.X) == pytest.approx(-2 * ll.sum() + 2 * p)
    assert model.icl(planted.X) >= model.bic(planted.X)


def test_sample_reproduces_the_model(planted):
    model = DiscreteMixture(3, random_state=0).fit(planted.X)
    Xs, ys = model.set_params(random_state=1).sample(20000)
    assert list(Xs.columns) == list(planted.X.columns)
    np.testing.assert_allclose(np.bincount(ys, minlength=3) / 20000, model.weights_, atol=0.015)
    probs = model.category_probs_["f02"]
    for k in range(3):
        freq = Xs.loc[ys == k, "f02"].value_counts(normalize=True).reindex(probs.index, fill_value=0)
        np.testing.assert_allclose(freq.to_numpy(), probs[k].to_numpy(), atol=0.03)
    arr_model = DiscreteMixture(2, random_state=0).fit(planted.X.to_numpy())
    Xa, _ = arr_model.sample(5)
    assert isinstance(Xa, np.ndarray) and Xa.shape == (5, 12)


def test_stagewise_init_records_experts():
    pytest.importorskip("crowdmix.stagewise")
    rng = np.random.default_rng(4)
    y = rng.integers(2, size=500)
    X = pd.DataFrame(rng.random((500, 30)) < rng.uniform(0.1, 0.5, 30), dtype=int)
    X.columns = [f"n{i:02d}" for i in range(30)]
    tuned = ["n03", "n11", "n17", "n25"]
    for c in tuned:
        X[c] = np.where(rng.random(500) < 0.85, y, 1 - y)
    model = DiscreteMixture(2, init="stagewise").fit(X.assign(const=1))
    assert model.experts_ is not None and len(model.experts_) >= 2
    assert set(model.experts_[:2]) <= set(tuned)
    assert adjusted_rand_score(y, model.labels_) > 0.6
    assert np.all(np.diff(model.log_likelihood_) >= -1e-10)


# ---------------------------------------------------------------- scikit-learn integration
def test_clone_pipeline_gridsearch():
    data = make_discrete_mixture(300, 10, 3, concentration=0.2, random_state=7)
    est = DiscreteMixture(2, n_init=2, random_state=0)
    assert clone(est).get_params() == est.get_params()
    pipe = Pipeline([("id", FunctionTransformer(None)), ("mix", est)])
    labels = pipe.fit_predict(data.X)
    assert labels.shape == (300,)
    grid = GridSearchCV(DiscreteMixture(n_init=2, random_state=0),
                        {"n_components": [1, 2, 3, 4]}, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnseenCategoryWarning)
        grid.fit(data.X)
    # held-out log-likelihood grows until the planted number of components
    scores = grid.cv_results_["mean_test_score"]
    assert scores[2] > scores[1] > scores[0]


# Checks that cannot apply to categorical data, each with the reason.
_EXPECTED_FAILED = {
    "check_clustering": (
        "feeds continuous blobs: every distinct float is its own category, so each sample is "
        "unique and there is no categorical structure to cluster"
    ),
    "check_clustering(readonly_memmap=True)": "same data as check_clustering",
}


def _expected_failed(estimator):
    return _EXPECTED_FAILED


@parametrize_with_checks(
    [DiscreteMixture(n_components=2, n_init=1, max_iter=20, random_state=0)],
    expected_failed_checks=_expected_failed,
)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnseenCategoryWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
