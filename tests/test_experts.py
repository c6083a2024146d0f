"""Learning from the experts: DawidSkene(experts=...), the automatic N, residual CMI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from crowdmix import DawidSkene, InputError, as_answers
from crowdmix.datasets import load_crowd_benchmark, make_one_coin_crowd, make_sparse_expert_crowd
from crowdmix.em import posterior
from crowdmix.experts import (
    expert_grid,
    expert_mask,
    heldout_choice,
    knee_point,
    rank_stability,
    residual_cmi,
    resolve_experts,
    select_n_experts,
    tasks_without_expert,
)
from crowdmix.metrics import error_rate
from crowdmix.mutual_information import rank_workers


@pytest.fixture(scope="module")
def sparse_crowd():
    return make_sparse_expert_crowd(n_tasks=400, n_workers=30, n_experts=5, random_state=1)


def _lonely_answers():
    """A crowd where some tasks are answered only by non-experts w20..w29."""
    crowd = make_one_coin_crowd(n_tasks=300, n_workers=30, n_classes=3,
                                accuracies=np.r_[np.full(20, 0.8), np.full(10, 0.6)],
                                answers_per_task=4, random_state=4)
    df = crowd.answers
    only_late = df.groupby("task")["worker"].apply(lambda w: (w >= "w21").all())
    assert only_late.any()
    return crowd, df


# ----------------------------------------------------------------------------- DawidSkene


def test_expert_e_step_uses_only_experts():
    crowd, df = _lonely_answers()
    experts = [f"w{i:02d}" for i in range(1, 11)]
    ds = DawidSkene(experts=experts).fit(df)
    ans = as_answers(df)
    codes = ans.workers.get_indexer(experts)
    lonely = tasks_without_expert(ans, codes)
    assert lonely.any() and not lonely.all()
    resp_exp, _ = posterior(ans.offsets, ans.value_codes, ds._log_params, ds._log_weights,
                            expert_mask(ans, codes))
    resp_all, _ = posterior(ans.offsets, ans.value_codes, ds._log_params, ds._log_weights)
    proba = ds.proba_.to_numpy()
    np.testing.assert_allclose(proba[~lonely], resp_exp[~lonely], atol=1e-10)
    # tasks no expert answered are labelled by all workers, never left at the prior
    np.testing.assert_allclose(proba[lonely], resp_all[lonely], atol=1e-10)
    assert ds.labels_.notna().all() and len(ds.labels_) == ans.n_tasks
    assert ds.experts_ == experts
    assert ds.experts_info_["rule"] == "list"
    assert ds.experts_info_["n_tasks_without_expert"] == int(lonely.sum())
    # the M-step still estimated every worker: non-experts have learned confusion matrices
    assert ds.confusion_array_.shape[0] == 30
    # (true accuracies 0.8 and 0.6; the M-step counts of tasks without experts use the prior,
    # which shrinks the non-experts' estimates towards chance, 1/3)
    late = ds.skills_.loc[[f"w{i}" for i in range(21, 31)]]
    early = ds.skills_.loc[experts]
    assert late.mean() > 0.4 and late.max() < early.min()


def test_predict_uses_the_expert_e_step_like_fit():
    """predict/predict_proba on new tasks: expert-only E-step where an expert answered, all
    workers otherwise; on the training answers they reproduce proba_/labels_."""
    crowd, df = _lonely_answers()
    experts = [f"w{i:02d}" for i in range(1, 11)]
    ds = DawidSkene(experts=experts).fit(df)
    # new tasks: the same answers under new task IDs, one worker's answers dropped
    new = df[df["worker"] != "w05"].assign(task=lambda d: "new-" + d["task"].astype(str))
    proba = ds.predict_proba(new)
    enc = as_answers(new)
    enc_codes = ds.workers_.get_indexer(enc.workers)
    codes = enc.workers.get_indexer(experts)
    codes = codes[codes >= 0]
    lonely = tasks_without_expert(enc, codes)
    assert lonely.any() and not lonely.all()
    # reference: the fitted parameters re-indexed to this encoding's workers, plain numpy E-step
    k = ds.confusion_array_.shape[1]
    rows = (enc_codes[:, None] * k + np.arange(k)).ravel()
    log_params = ds._log_params[rows]
    ref_exp, _ = posterior(enc.offsets, enc.value_codes, log_params, ds._log_weights,
                           expert_mask(enc, codes))
    ref_all, _ = posterior(enc.offsets, enc.value_codes, log_params, ds._log_weights)
    got = proba.loc[enc.tasks].to_numpy()
    np.testing.assert_allclose(got[~lonely], ref_exp[~lonely], atol=1e-10)
    np.testing.assert_allclose(got[lonely], ref_all[lonely], atol=1e-10)
    assert not np.allclose(ref_exp[~lonely], ref_all[~lonely], atol=1e-3)  # the choice matters
    labels = ds.predict(new)
    assert (labels.loc[enc.tasks].to_numpy() == np.asarray(enc.classes)[np.argmax(got, axis=1)]).all()
    # on the training answers, predict_proba is the fitted posterior
    again = ds.predict_proba(df)
    np.testing.assert_allclose(again.loc[ds.proba_.index].to_numpy(), ds.proba_.to_numpy(), atol=1e-10)
    assert (ds.predict(df).loc[ds.labels_.index] == ds.labels_).all()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_non_expert_answers_do_not_move_expert_tasks():
    """Changing a non-expert's answers leaves the E-step posterior of the first iteration alone:
    with max_iter=1 the posteriors come from the first M-step on the majority vote, so compare
    two fits whose non-expert answers differ only on tasks that experts also answered."""
    crowd = make_one_coin_crowd(n_tasks=200, n_workers=10, accuracies=0.8, answers_per_task=None,
                                random_state=0)
    df = crowd.answers.copy()
    experts = ["w01", "w02", "w03"]
    a = DawidSkene(experts=experts, max_iter=1).fit(df)
    flipped = df.copy()
    # replace w10's answers by coin flips (flipping all of them would be a mere relabelling)
    rows = flipped["worker"] == "w10"
    flipped.loc[rows, "label"] = np.random.default_rng(1).integers(2, size=int(rows.sum()))
    b = DawidSkene(experts=experts, max_iter=1, init=a.proba_).fit(flipped)
    a2 = DawidSkene(experts=experts, max_iter=1, init=a.proba_).fit(df)
    # same initial posteriors, same expert answers -> identical expert-only posteriors
    np.testing.assert_allclose(a2.proba_.to_numpy(), b.proba_.to_numpy(), atol=1e-12)
    full_a = DawidSkene(max_iter=1, init=a.proba_).fit(df)
    full_b = DawidSkene(max_iter=1, init=a.proba_).fit(flipped)
    assert not np.allclose(full_a.proba_.to_numpy(), full_b.proba_.to_numpy())


def test_experts_none_is_plain_em():
    crowd = make_one_coin_crowd(n_tasks=200, n_workers=8, random_state=2)
    plain = DawidSkene().fit(crowd.answers)
    assert plain.experts_ is None and plain.experts_info_ is None
    everyone = DawidSkene(experts=1.0).fit(crowd.answers)
    np.testing.assert_allclose(plain.proba_.to_numpy(), everyone.proba_.to_numpy(), atol=1e-10)


def test_clone_and_params():
    experts = ["w01", "w02"]
    ds = DawidSkene(experts=experts)
    assert ds.get_params()["experts"] is experts
    assert clone(ds).get_params()["experts"] == experts
    assert clone(DawidSkene(experts="auto")).experts == "auto"
    assert DawidSkene(experts=0.25).set_params(experts=7).experts == 7


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_log_likelihood_monotone_with_experts(sparse_crowd):
    ds = DawidSkene(experts=6, tol=0.0, max_iter=40).fit(sparse_crowd.answers)
    assert np.all(np.diff(ds.log_likelihood_) >= -1e-10)


def test_int_and_share_take_the_top_of_the_ranking(sparse_crowd):
    ranking = rank_workers(sparse_crowd.answers, score="sum")
    ds = DawidSkene(experts=4).fit(sparse_crowd.answers)
    assert ds.experts_ == list(ranking.index[:4])
    assert ds.experts_info_["rule"] == "top_n" and ds.experts_info_["n_experts"] == 4
    pd.testing.assert_series_equal(ds.experts_info_["scores"], ranking["score"])
    share = DawidSkene(experts=0.2).fit(sparse_crowd.answers)
    assert share.experts_ == list(ranking.index[:6])  # ceil(0.2 * 30)


def test_experts_recover_the_hidden_experts(sparse_crowd):
    """A few experts in a crowd of pure noise: the ranking finds them and expert EM is at least
    as accurate as all-worker EM."""
    ans = as_answers(sparse_crowd.answers)
    true_experts = {w for w, t in zip(sparse_crowd.worker_ids, sparse_crowd.worker_types,
                                      strict=True) if t != "spammer"}
    ds = DawidSkene(experts=len(true_experts)).fit(ans)
    assert set(ds.experts_) == true_experts
    err_exp = error_rate(ds.labels_, sparse_crowd.truth)
    err_all = error_rate(DawidSkene().fit(ans).labels_, sparse_crowd.truth)
    assert err_exp <= err_all + 0.01  # measured 11.75 % vs 11.50 % here


@pytest.mark.parametrize(
    "bad,match",
    [("best", "auto"), (0, "between 1"), (31, "between 1"), (1.5, "share"), (0.0, "share"),
     (["w01", "nobody"], "not workers"), ([], "empty"), (["w01", "w01"], "more than once"),
     (True, "experts"), ({"w01": 1}, "experts")],
)
def test_bad_experts_raise(sparse_crowd, bad, match):
    with pytest.raises(InputError, match=match):
        DawidSkene(experts=bad).fit(sparse_crowd.answers)


def test_clamped_tasks_stay_clamped():
    crowd, df = _lonely_answers()
    ans = as_answers(df)
    lonely_task = ans.tasks[tasks_without_expert(ans, ans.workers.get_indexer(["w01"]))][0]
    known = {lonely_task: 2}
    ds = DawidSkene(experts=["w01"]).fit(df, true_labels=known)
    assert ds.labels_.loc[lonely_task] == 2
    assert ds.proba_.loc[lonely_task, 2] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- auto N


def test_auto_is_deterministic_and_explained(sparse_crowd):
    grid = [3, 5, 8, 30]
    sel = select_n_experts(sparse_crowd.answers, grid=grid, n_folds=3)
    again = select_n_experts(sparse_crowd.answers, grid=grid, n_folds=3)
    assert sel.n_experts == again.n_experts and sel.n_experts in grid
    assert list(sel.table.index) == grid
    assert {"heldout", "heldout_se"} <= set(sel.table.columns)
    assert sel.experts == list(sel.ranking.index[: sel.n_experts])


def test_auto_picks_experts_in_a_noisy_crowd():
    """5 experts among 40 pure-noise workers, every worker on every task: the held-out rule
    prefers a small expert set, and DawidSkene(experts="auto") uses it."""
    crowd = make_sparse_expert_crowd(n_tasks=300, n_workers=40, n_experts=5, random_state=3)
    ds = DawidSkene(experts="auto").fit(crowd.answers)
    info = ds.experts_info_
    assert info["rule"] == "auto" and info["criterion"] == "heldout"
    assert info["n_experts"] < 40
    assert "heldout" in info["table"].columns
    err = error_rate(ds.labels_, crowd.truth)
    assert err <= error_rate(DawidSkene().fit(crowd.answers).labels_, crowd.truth) + 1e-12


def test_other_criteria_run(sparse_crowd):
    sel = select_n_experts(sparse_crowd.answers, grid=[3, 6, 30], compare=True, n_folds=2)
    assert set(sel.extra["chosen_by"]) == {"heldout", "residual", "knee", "stability"}
    assert {"residual", "stability"} <= set(sel.table.columns)
    with pytest.raises(InputError, match="criterion"):
        select_n_experts(sparse_crowd.answers, criterion="truth")
    with pytest.raises(InputError, match="grid"):
        select_n_experts(sparse_crowd.answers, grid=[0, 3])


def test_heldout_choice_rule():
    rng = np.random.default_rng(0)
    base = rng.normal(size=4000)
    noise = lambda: rng.normal(scale=0.05, size=4000)  # noqa: E731
    # experts clearly better than all workers: keep the largest N close to the best
    s = np.stack([base + 0.10 + noise(), base + 0.20 + noise(), base + 0.2 + noise(), base])
    idx, _ = heldout_choice(s)
    assert idx in (1, 2)
    # no significant gain over all workers: keep all workers
    s = np.stack([base + 0.001 + noise(), base])
    assert heldout_choice(s)[0] == 1


def test_knee_and_grid():
    scores = np.r_[np.linspace(10, 8, 5), np.linspace(1, 0.5, 45)]
    assert knee_point(scores) == 5
    grid = expert_grid(500)
    assert grid[0] == 3 and grid[-1] == 500 and np.all(np.diff(grid) > 0)
    assert list(expert_grid(2)) == [2]


def test_rank_stability_bounds(sparse_crowd):
    ans = as_answers(sparse_crowd.answers)
    stab = rank_stability(ans, [5, 30], n_boot=3)
    assert stab[1] == pytest.approx(1.0)
    assert 0.0 <= stab[0] <= 1.0


def test_resolve_experts_returns_rank_order(sparse_crowd):
    ans = as_answers(sparse_crowd.answers)
    codes, info = resolve_experts(ans, ["w03", "w01"])
    assert list(ans.workers.take(codes)) == ["w03", "w01"] and info["rule"] == "list"


# ----------------------------------------------------------------------------- residual CMI


def test_residual_cmi_detects_a_wrong_posterior():
    crowd = make_one_coin_crowd(n_tasks=600, n_workers=8, accuracies=0.8, answers_per_task=None,
                                random_state=0)
    ans = as_answers(crowd.answers)
    truth = crowd.truth.loc[ans.tasks].to_numpy()
    right = np.eye(2)[truth]
    good = residual_cmi(ans, right)
    flat = residual_cmi(ans, np.full((ans.n_tasks, 2), 0.5))
    assert 0.5 < good.statistic < 1.6  # conditional independence given the true class
    assert flat.statistic > 20 * good.statistic  # all the dependence is left unexplained
    assert good.n_pairs == 28
    assert list(good.per_worker.columns) == ["statistic", "cmi", "n_pairs"]
    sub = residual_cmi(ans, right, workers=["w01", "w02", "w03"])
    assert sub.n_pairs == 3 and list(sub.per_worker.index) == ["w01", "w02", "w03"]
    with pytest.raises(InputError, match="shape"):
        residual_cmi(ans, right[:10])


# ----------------------------------------------------------------------------- real data


@pytest.mark.slow
def test_auto_on_web_beats_all_worker_em():
    try:
        bench = load_crowd_benchmark("web")
    except (FileNotFoundError, InputError) as err:
        pytest.skip(f"shared crowd data not available: {err}")
    ds = DawidSkene(experts="auto").fit(bench.answers)
    # measured 9.46 % at N = 16 (all-worker EM: 16.17 %); the issue asks for at most 12 %
    assert error_rate(ds.labels_, bench.truth) <= 0.12
