"""KOS: kernel against the numpy reference, a hand-computed round, synthetic recovery."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from crowdmix import InputError, as_answers
from crowdmix.datasets import make_crowd, make_one_coin_crowd
from crowdmix.kernels.kos import kos_messages, kos_messages_ref
from crowdmix.kos import KOS
from crowdmix.metrics import error_rate


def random_graph(seed, n_tasks=120, n_workers=25):
    crowd = make_one_coin_crowd(n_tasks=n_tasks, n_workers=n_workers, n_classes=2,
                                answers_per_task=(1, 7), random_state=seed)
    ans = as_answers(crowd.answers)
    sign = np.where(ans.label == 1, 1.0, -1.0)
    y0 = np.random.default_rng(seed).normal(1.0, 1.0, ans.n_answers)
    return ans, sign, y0


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("max_iter,tol", [(1, 0.0), (7, 0.0), (200, 1e-9)])
def test_kernel_matches_reference(seed, max_iter, tol):
    ans, sign, y0 = random_graph(seed)
    args = (ans.task, ans.worker, sign, y0, ans.n_tasks, ans.n_workers, max_iter, tol)
    got = kos_messages(*args)
    ref = kos_messages_ref(*args)
    for a, b in zip(got[:3], ref[:3], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    assert got[3:] == ref[3:]


def test_one_round_by_hand():
    # task 0: a +1, b +1, c -1; task 1: a +1, b -1.  Edges in that order, y0 = 1.
    task = np.array([0, 0, 0, 1, 1], np.int32)
    worker = np.array([0, 1, 2, 0, 1], np.int32)
    sign = np.array([1.0, 1.0, -1.0, 1.0, -1.0])
    # x_e = (sum of A y over the task) - own term: task sums are 1 and 0
    x = np.array([1 - 1, 1 - 1, 1 + 1, 0 - 1, 0 + 1], float)          # [0, 0, 2, -1, 1]
    # worker sums of A x: a = 0 - 1 = -1, b = 0 - 1 = -1, c = -2; y_e = sum - A_e x_e
    wsum = np.array([-1.0, -1.0, -2.0])
    y = wsum[worker] - sign * x
    np.testing.assert_allclose(y, [-1, -1, 0, 0, 0])
    y = y / np.sqrt(np.mean(y**2))
    task_score, worker_score, y_out, n_iter, converged = kos_messages(
        task, worker, sign, np.ones(5), 2, 3, 1, 0.0)
    np.testing.assert_allclose(y_out, y)
    np.testing.assert_allclose(task_score, [y[0] + y[1] - y[2], y[3] - y[4]])
    x_final = task_score[task] - sign * y
    np.testing.assert_allclose(worker_score, np.bincount(worker, sign * x_final, minlength=3))
    assert n_iter == 1 and not converged


def test_refuses_multiclass_with_a_clear_error():
    crowd = make_crowd(n_tasks=30, n_workers=8, n_classes=3, random_state=0)
    with pytest.raises(InputError, match="binary labels only, but the answers have 3 classes"):
        KOS().fit(crowd.answers)


def test_recovers_one_coin_crowd():
    crowd = make_one_coin_crowd(n_tasks=1000, n_workers=40, n_classes=2,
                                accuracies=np.linspace(0.55, 0.95, 40), answers_per_task=9,
                                random_state=3)
    kos = KOS(random_state=0).fit(crowd.answers)
    assert kos.converged_
    err = error_rate(kos.labels_, crowd.truth)
    assert err < 0.05
    # worker messages order the workers by accuracy (rank correlation)
    acc = pd.Series(np.linspace(0.55, 0.95, 40), index=crowd.worker_ids)
    rho = kos.skills_.rank().corr(acc.reindex(kos.skills_.index).rank())
    assert rho > 0.8
    assert kos.skills_.abs().max() == pytest.approx(1.0)


def test_adversarial_workers_get_negative_reliability():
    acc = np.r_[np.full(12, 0.85), np.full(4, 0.1)]
    crowd = make_one_coin_crowd(n_tasks=600, n_workers=16, n_classes=2, accuracies=acc,
                                answers_per_task=8, random_state=1)
    kos = KOS(random_state=0).fit(crowd.answers)
    skills = kos.skills_.reindex(crowd.worker_ids).to_numpy()
    assert (skills[:12] > 0).all() and (skills[12:] < 0).all()
    assert error_rate(kos.labels_, crowd.truth) < 0.05


def test_label_names_do_not_matter():
    crowd = make_one_coin_crowd(n_tasks=300, n_workers=15, n_classes=2, answers_per_task=5,
                                random_state=2)
    df = crowd.answers
    renamed = df.assign(label=df.label.map({0: "yes", 1: "no"}))  # "no" sorts first
    a = KOS(random_state=4).fit_predict(df)
    b = KOS(random_state=4).fit_predict(renamed)
    assert (a.map({0: "yes", 1: "no"}) == b.reindex(a.index)).all()


def test_seeds_agree_once_converged():
    crowd = make_one_coin_crowd(n_tasks=500, n_workers=20, n_classes=2, answers_per_task=7,
                                random_state=5)
    runs = [KOS(random_state=s).fit(crowd.answers) for s in range(3)]
    assert all(r.converged_ for r in runs)
    for r in runs[1:]:
        pd.testing.assert_series_equal(r.labels_, runs[0].labels_)


def test_outputs_and_zero_evidence_fallback():
    # task "solo" is answered only by "z", who answers nothing else: its message is 0, so
    # the task has no evidence and falls back to its (single) vote
    crowd = make_one_coin_crowd(n_tasks=50, n_workers=8, n_classes=2, answers_per_task=5,
                                random_state=0)
    df = pd.concat([crowd.answers, pd.DataFrame({"task": ["solo"], "worker": ["z"], "label": [1]})])
    kos = KOS(random_state=0).fit(df)
    assert kos.scores_.loc["solo"] == 0.0
    assert kos.labels_.loc["solo"] == 1
    np.testing.assert_array_equal(kos.proba_.sum(axis=1), 1.0)
    assert set(np.unique(kos.proba_.to_numpy())) <= {0.0, 1.0}
    assert ((kos.scores_ > 0) == (kos.labels_ == 1)).drop("solo").all()


def test_true_labels_and_params():
    crowd = make_one_coin_crowd(n_tasks=40, n_workers=6, n_classes=2, answers_per_task=3,
                                random_state=0)
    t0 = crowd.truth.index[0]
    flipped = 1 - crowd.truth.loc[t0]
    kos = KOS(random_state=0).fit(crowd.answers, true_labels={t0: flipped})
    assert kos.labels_.loc[t0] == flipped
    assert clone(KOS(max_iter=5)).get_params()["max_iter"] == 5
    with pytest.raises(InputError, match="max_iter"):
        KOS(max_iter=0).fit(crowd.answers)
    with pytest.raises(InputError, match="tol"):
        KOS(tol=-1).fit(crowd.answers)



@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_row_order_does_not_matter(seed):
    crowd = make_one_coin_crowd(n_tasks=40, n_workers=8, n_classes=2, answers_per_task=(1, 5),
                                random_state=seed)
    df = crowd.answers
    a = KOS(random_state=1).fit(df)
    b = KOS(random_state=1).fit(df.sample(frac=1.0, random_state=seed))
    pd.testing.assert_series_equal(a.labels_, b.labels_)
    assert (a.skills_.abs() <= 1).all()
