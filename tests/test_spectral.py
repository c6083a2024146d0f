"""Spectral initialisation of Dawid-Skene (Zhang et al. 2014): tensor power method, recovery of
known confusion matrices, determinism, fallback, and DawidSkene(init="spectral")."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from crowdmix import DawidSkene, as_answers
from crowdmix.datasets import load_crowd_benchmark, make_crowd
from crowdmix.dawid_skene import majority_posteriors
from crowdmix.metrics import error_rate
from crowdmix.spectral import (
    SpectralError,
    SpectralFallbackWarning,
    robust_tensor_power,
    spectral_estimate,
    spectral_posteriors,
    split_workers,
)


@pytest.fixture(scope="module")
def dense_crowd():
    return make_crowd(n_tasks=3000, n_workers=24, n_classes=3, answers_per_task=None, random_state=5)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_tensor_power_recovers_an_orthogonal_decomposition(k):
    rng = np.random.default_rng(k)
    v = np.linalg.qr(rng.normal(size=(k, k)))[0]
    lam = rng.uniform(1.0, 4.0, size=k)
    t = np.einsum("h,ih,jh,kh->ijk", lam, v, v, v)
    values, vectors = robust_tensor_power(t, np.random.default_rng(0))
    order = np.argsort(values)
    np.testing.assert_allclose(values[order], np.sort(lam), atol=1e-8)
    # every recovered vector is one of the true ones (same sign: T(v, v, v) > 0)
    match = np.abs(vectors.T @ v)
    np.testing.assert_allclose(match.max(axis=1), 1.0, atol=1e-8)


def test_split_workers_is_balanced_random_and_deterministic():
    counts = np.random.default_rng(0).integers(1, 200, size=50)
    g1 = split_workers(counts, np.random.default_rng(1))
    g2 = split_workers(counts, np.random.default_rng(1))
    g3 = split_workers(counts, np.random.default_rng(2))
    np.testing.assert_array_equal(g1, g2)
    assert not np.array_equal(g1, g3)
    load = np.bincount(g1, weights=counts, minlength=3)
    assert set(g1) == {0, 1, 2}
    assert load.max() - load.min() <= counts.max()


def test_perfect_workers_give_identity_confusions_and_the_class_shares():
    # hand-checked: every worker always answers the truth, so Z_g = |G_g| e_y, the pair moments
    # are diagonal, and the method must return C_i = I and w = the class shares exactly
    truth = np.array([0] * 30 + [1] * 50 + [2] * 20)
    rows = [(t, f"w{i}", int(y)) for t, y in enumerate(truth) for i in range(6)]
    df = pd.DataFrame(rows, columns=["task", "worker", "label"])
    est = spectral_estimate(df, random_state=0)
    np.testing.assert_allclose(est.class_prior, [0.3, 0.5, 0.2], atol=1e-6)
    np.testing.assert_allclose(est.confusions, np.broadcast_to(np.eye(3), (6, 3, 3)), atol=1e-5)


def test_recovers_known_confusions(dense_crowd):
    ans = as_answers(dense_crowd.answers)
    est = spectral_estimate(ans, random_state=0)
    est_conf = est.confusions[ans.workers.get_indexer(dense_crowd.worker_ids)]
    assert np.abs(est_conf - dense_crowd.confusions).mean() < 0.03
    np.testing.assert_allclose(est.class_prior, dense_crowd.class_prior, atol=0.03)
    np.testing.assert_allclose(est.confusions.sum(axis=1), 1.0)
    assert est.groups.shape == (ans.n_workers,)


def test_deterministic_given_random_state(dense_crowd):
    a = spectral_estimate(dense_crowd.answers, random_state=3)
    b = spectral_estimate(dense_crowd.answers, random_state=3)
    c = spectral_estimate(dense_crowd.answers, random_state=4)
    np.testing.assert_array_equal(a.confusions, b.confusions)
    assert not np.array_equal(a.groups, c.groups)


def test_dawid_skene_spectral_init(dense_crowd):
    ds = DawidSkene(init="spectral", random_state=0).fit(dense_crowd.answers)
    again = DawidSkene(init="spectral", random_state=0).fit(dense_crowd.answers)
    pd.testing.assert_frame_equal(ds.proba_, again.proba_)
    truth = dense_crowd.truth.loc[ds.labels_.index]
    assert (ds.labels_ == truth).mean() > 0.97
    mv = DawidSkene().fit(dense_crowd.answers)
    assert (ds.labels_ == truth).mean() >= (mv.labels_ == truth).mean() - 0.005
    assert np.all(np.diff(ds.log_likelihood_) >= -1e-9)
    params = clone(ds).get_params()
    assert params["init"] == "spectral" and params["random_state"] == 0


def test_fallback_to_majority_when_too_few_workers():
    df = pd.DataFrame({"task": [1, 1, 2, 2, 3], "worker": ["a", "b", "a", "b", "a"],
                       "label": ["x", "y", "y", "y", "x"]})
    with pytest.raises(SpectralError, match="at least 3 workers"):
        spectral_estimate(df)
    with pytest.warns(SpectralFallbackWarning, match="soft majority vote"):
        q = spectral_posteriors(df, random_state=0)
    np.testing.assert_allclose(q, majority_posteriors(as_answers(df)))
    with pytest.warns(SpectralFallbackWarning):
        DawidSkene(init="spectral").fit(df)


def test_fallback_when_a_class_is_never_answered():
    crowd = make_crowd(n_tasks=300, n_workers=9, n_classes=2, random_state=0)
    ans = as_answers(crowd.answers, classes=[0, 1, 2])  # class 2 exists but nobody uses it
    with pytest.raises(SpectralError, match="singular or ill-conditioned"):
        spectral_estimate(ans, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpectralFallbackWarning)
        with pytest.raises(SpectralFallbackWarning):
            spectral_posteriors(ans, random_state=0)
    assert spectral_posteriors(ans, random_state=0, warn=False).shape == (300, 3)


@pytest.mark.slow
@pytest.mark.parametrize("name, published", [("bird", 10.09), ("rte", 7.12), ("dog", 16.89)])
def test_real_data_matches_opt_ds(name, published):
    try:
        bench = load_crowd_benchmark(name)
    except Exception as err:  # noqa: BLE001
        pytest.skip(f"shared crowd data not available: {err}")
    errors = [
        100 * error_rate(DawidSkene(init="spectral", random_state=rs).fit(bench.answers).labels_,
                         bench.truth)
        for rs in range(3)
    ]
    # measured (benchmarks/bench_spectral.py): bird 10.19, rte 7.12, dog 15.86-16.11
    assert max(errors) <= published + 0.5


def test_cli_init_spectral(tmp_path):
    from crowdmix.cli import main

    crowd = make_crowd(n_tasks=200, n_workers=12, n_classes=3, random_state=1)
    src = tmp_path / "answers.csv"
    crowd.answers.to_csv(src, index=False)
    out1, out2 = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["aggregate", str(src), "-o", str(out1), "--init", "spectral", "--seed", "3"]) == 0
    assert main(["aggregate", str(src), "-o", str(out2), "--init", "spectral", "--seed", "3"]) == 0
    a, b = pd.read_csv(out1), pd.read_csv(out2)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 200 and (a["label"].astype(str) == crowd.truth.astype(str).to_numpy()).mean() > 0.8
