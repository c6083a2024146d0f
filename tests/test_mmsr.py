"""M-MSR: trimmed means by hand, kernel against the numpy reference, covariance and signs."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from crowdmix import InputError, as_answers
from crowdmix.datasets import make_one_coin_crowd
from crowdmix.kernels.mmsr import mmsr_iterate, mmsr_iterate_ref, trimmed_mean_ref
from crowdmix.metrics import error_rate
from crowdmix.mmsr import MMSR, agreement_covariance, sign_determination
from crowdmix.wawa import weighted_vote


def test_trimmed_mean_by_hand():
    x = np.array([10.0, 1.0, -5.0, 3.0, 2.0])
    # F = 1: drop the smallest below 2 (-5) and the largest above 2 (10): mean(1, 2, 3) = 2
    assert trimmed_mean_ref(x, 1, 2.0, 100) == pytest.approx(2.0)
    # F = 3: fewer than 3 values on either side, so all values below and above 2 go: [2]
    assert trimmed_mean_ref(x, 3, 2.0, 100) == pytest.approx(2.0)
    # around 0: 1 value below (-5 < 3 -> all dropped), 4 above -> drop the 3 largest: [1]
    assert trimmed_mean_ref(x, 3, 0.0, 100) == pytest.approx(1.0)
    assert trimmed_mean_ref(x, 0, 0.0, 100) == pytest.approx(np.mean(x))
    assert trimmed_mean_ref(np.array([0.0]), 0, 5.0, 100) == pytest.approx(0.1)  # 1/sqrt(100)
    assert trimmed_mean_ref(np.array([]), 1, 5.0, 100) is None


def random_problem(seed, m=25, density=0.4):
    rng = np.random.default_rng(seed)
    s = rng.uniform(0.1, 0.9, m)
    obs = np.triu(rng.random((m, m)) < density, 1)
    obs = obs | obs.T
    x = np.abs(np.outer(s, s) + rng.normal(0, 0.05, (m, m)))
    x = np.triu(x, 1) + np.triu(x, 1).T
    csr = sp.csr_matrix(np.where(obs, x, 0.0))
    csr = sp.csr_matrix((x[obs.nonzero()], obs.nonzero()), shape=(m, m))
    return x, obs, csr, rng.uniform(size=m)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("n_trim", [0, 1, 3])
def test_kernel_matches_reference(seed, n_trim):
    x, obs, csr, u0 = random_problem(seed)
    got = mmsr_iterate(csr.indptr.astype(np.int64), csr.indices.astype(np.int64), csr.data,
                       u0, u0.copy(), n_trim, 200, 25, 1e-12)
    ref = mmsr_iterate_ref(x, obs, u0, u0.copy(), n_trim, 200, 25, 1e-12)
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-10)
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-10)
    np.testing.assert_allclose(got[2], ref[2], rtol=1e-6, atol=1e-12)


def test_completion_recovers_rank_one_matrix():
    rng = np.random.default_rng(3)
    s = rng.uniform(0.2, 0.9, 30)
    x = np.outer(s, s)
    obs = np.triu(rng.random((30, 30)) < 0.5, 1)
    obs = obs | obs.T
    csr = sp.csr_matrix((x[obs.nonzero()], obs.nonzero()), shape=(30, 30))
    u, v, losses = mmsr_iterate(csr.indptr.astype(np.int64), csr.indices.astype(np.int64),
                                csr.data, np.full(30, 0.5), np.full(30, 0.5), 2, 1000, 5000, 1e-12)
    assert losses[-1] < 1e-12
    est = u / np.sqrt(np.linalg.norm(u) / np.linalg.norm(v))
    np.testing.assert_allclose(est, s, rtol=1e-6)


def test_covariance_matches_pairwise_loop():
    crowd = make_one_coin_crowd(n_tasks=60, n_workers=9, n_classes=3, answers_per_task=(2, 5),
                                random_state=2)
    ans = as_answers(crowd.answers)
    cov, common = agreement_covariance(ans)
    dense = np.full((ans.n_workers, ans.n_tasks), -1)
    dense[ans.worker, ans.task] = ans.label
    k = ans.n_classes
    for i in range(ans.n_workers):
        for j in range(ans.n_workers):
            both = (dense[i] >= 0) & (dense[j] >= 0)
            if i == j or not both.any():
                assert common[i, j] == 0
                continue
            agree = np.mean(dense[i, both] == dense[j, both])
            assert common[i, j] == both.sum()
            assert cov[i, j] == pytest.approx(k / (k - 1) * agree - 1 / (k - 1))


def test_sign_determination_recovers_planted_signs():
    rng = np.random.default_rng(0)
    s = rng.uniform(0.3, 0.9, 20) * np.where(np.arange(20) < 15, 1, -1)
    c = np.outer(s, s)
    obs = np.triu(rng.random((20, 20)) < 0.6, 1)
    obs = obs | obs.T
    cov = sp.csr_matrix((c[obs.nonzero()], obs.nonzero()), shape=(20, 20))
    np.testing.assert_array_equal(sign_determination(cov), np.sign(s))
    # two disconnected groups are oriented separately; an isolated worker gets 0
    block = sp.block_diag([cov, cov, sp.csr_matrix((1, 1))]).tocsr()
    np.testing.assert_array_equal(sign_determination(block), np.r_[np.sign(s), np.sign(s), 0])


def test_finds_adversaries_and_labels_well():
    acc = np.r_[np.full(10, 0.8), np.full(4, 0.15)]
    crowd = make_one_coin_crowd(n_tasks=800, n_workers=14, n_classes=2, accuracies=acc,
                                answers_per_task=7, random_state=1)
    mmsr = MMSR().fit(crowd.answers)
    p = mmsr.skills_.reindex(crowd.worker_ids).to_numpy()
    assert np.abs(p - acc).max() < 0.1
    w = mmsr.weights_.reindex(crowd.worker_ids).to_numpy()
    assert (w[:10] > 0).all() and (w[10:] < 0).all()
    # as good as the vote with the true one-coin weights (the Bayes rule), within 1 point
    ans = as_answers(crowd.answers)
    true_w = pd.Series(np.log(acc / (1 - acc)), index=crowd.worker_ids).reindex(ans.workers)
    oracle = pd.Series(np.argmax(weighted_vote(ans, true_w.to_numpy()), axis=1), index=ans.tasks)
    assert error_rate(mmsr.labels_, crowd.truth) <= error_rate(oracle, crowd.truth) + 0.01
    np.testing.assert_allclose(mmsr.proba_.sum(axis=1), 1.0)
    # proba_ is the softmax of the log-odds scores (one-coin posterior)
    sc = mmsr.scores_.to_numpy()
    expected = np.exp(sc - sc.max(axis=1, keepdims=True))
    np.testing.assert_allclose(mmsr.proba_.to_numpy(), expected / expected.sum(axis=1, keepdims=True))


def test_multiclass_accuracy_estimates():
    acc = np.linspace(0.4, 0.9, 12)
    crowd = make_one_coin_crowd(n_tasks=1500, n_workers=12, n_classes=4, accuracies=acc,
                                answers_per_task=8, random_state=0)
    mmsr = MMSR().fit(crowd.answers)
    p = mmsr.skills_.reindex(crowd.worker_ids).to_numpy()
    assert np.abs(p - acc).max() < 0.06
    assert mmsr.converged_


@pytest.mark.filterwarnings("ignore")  # crowd-kit's own pandas deprecations
def test_matches_crowdkit_on_complete_data():
    cka = pytest.importorskip("crowdkit.aggregation", reason="crowd-kit not installed")
    # every worker answers every task: every pair is observed, where the two agree by design
    crowd = make_one_coin_crowd(n_tasks=150, n_workers=9, n_classes=2,
                                accuracies=np.r_[np.full(6, 0.75), np.full(3, 0.3)],
                                answers_per_task=None, random_state=3)
    ours = MMSR().fit(crowd.answers)
    theirs = cka.MMSR().fit(crowd.answers)
    np.testing.assert_allclose(ours.weights_, theirs.skills_.reindex(ours.weights_.index), rtol=1e-6)


def test_predict_true_labels_params():
    crowd = make_one_coin_crowd(n_tasks=100, n_workers=8, n_classes=2, answers_per_task=4,
                                random_state=0)
    mmsr = MMSR().fit(crowd.answers, true_labels={"t0001": 1 - crowd.truth["t0001"]})
    assert mmsr.labels_["t0001"] == 1 - crowd.truth["t0001"]
    new = pd.DataFrame({"task": ["n"] * 3, "worker": crowd.worker_ids[:3], "label": [1, 1, 0]})
    assert len(mmsr.predict(new)) == 1
    assert clone(MMSR(n_trim=2)).get_params()["n_trim"] == 2
    for bad in (dict(max_iter=0), dict(tol=-1.0), dict(n_trim=-1)):
        with pytest.raises(InputError):
            MMSR(**bad).fit(crowd.answers)



@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(2, 4))
def test_row_order_does_not_matter_and_outputs_are_valid(seed, k):
    crowd = make_one_coin_crowd(n_tasks=40, n_workers=8, n_classes=k, answers_per_task=(1, 5),
                                random_state=seed)
    df = crowd.answers
    a = MMSR(max_iter=500).fit(df)
    b = MMSR(max_iter=500).fit(df.sample(frac=1.0, random_state=seed))
    pd.testing.assert_series_equal(a.labels_, b.labels_)
    assert np.isfinite(a.weights_).all()
    assert ((a.skills_ > 0) & (a.skills_ < 1)).all()
    np.testing.assert_allclose(a.proba_.sum(axis=1), 1.0)
