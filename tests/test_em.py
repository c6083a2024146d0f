"""The EM skeleton: a plain-numpy EM as reference, monotone objective, clamping, expert E-steps."""

import numpy as np
import pytest
from scipy.special import logsumexp

from crowdmix.answers import as_answers
from crowdmix.confusion import confusion_m_step
from crowdmix.datasets import make_crowd
from crowdmix.em import (
    FeatureLayout,
    dirichlet_penalty,
    normalize_columns,
    normalize_weights,
    run_em,
)


def crowd(seed=0, n_tasks=300, n_workers=12, k=3):
    data = make_crowd(n_tasks=n_tasks, n_workers=n_workers, n_classes=k, random_state=seed)
    return as_answers(data.answers)


def numpy_em(ans, resp0, alpha, n_iter):
    """Textbook Dawid-Skene EM on a dense tasks x workers x classes indicator tensor."""
    n, m, k = ans.n_tasks, ans.n_workers, ans.n_classes
    x = np.zeros((n, m, k))
    x[ans.task, ans.worker, ans.label] = 1.0
    resp = resp0
    history = []
    for _ in range(n_iter):
        counts = np.einsum("sia,sk->iak", x, resp) + alpha  # (m, K answer, K truth)
        conf = counts / counts.sum(axis=1, keepdims=True)
        w = resp.sum(axis=0) + alpha
        w = w / w.sum()
        scores = np.log(w) + np.einsum("sia,iak->sk", x, np.log(conf))
        ll = logsumexp(scores, axis=1)
        resp = np.exp(scores - ll[:, None])
        history.append((ll.sum() + alpha * (np.log(conf).sum() + np.log(w).sum())) / n)
    return resp, conf, w, np.array(history)


def crowd_m_step(ans, alpha, confusion="full"):
    m, k = ans.n_workers, ans.n_classes

    def m_step(counts, resp_sum):
        conf = confusion_m_step(counts, m, k, alpha, confusion)
        return np.log(conf.reshape(m * k, k)), normalize_weights(resp_sum, alpha)

    return m_step


def test_run_em_matches_textbook_numpy_em():
    ans = crowd()
    resp0 = ans.vote_counts / ans.vote_counts.sum(axis=1, keepdims=True)
    alpha = 0.1
    fit = run_em(ans.offsets, ans.value_codes, ans.n_workers * ans.n_classes, resp0,
                 crowd_m_step(ans, alpha), lambda lp, lw: dirichlet_penalty(lp, lw, alpha),
                 max_iter=15, tol=0.0)
    resp, conf, w, hist = numpy_em(ans, resp0, alpha, 15)
    np.testing.assert_allclose(fit.history, hist, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(fit.resp, resp, atol=1e-9)


@pytest.mark.parametrize("confusion", ["full", "diagonal", "one_coin"])
@pytest.mark.parametrize("alpha", [0.0, 0.01, 1.0])
def test_objective_never_decreases(confusion, alpha):
    ans = crowd(seed=3)
    rng = np.random.default_rng(0)
    resp0 = rng.dirichlet(np.ones(ans.n_classes), size=ans.n_tasks)
    fit = run_em(ans.offsets, ans.value_codes, ans.n_workers * ans.n_classes, resp0,
                 crowd_m_step(ans, alpha, confusion), lambda lp, lw: dirichlet_penalty(lp, lw, alpha),
                 max_iter=60, tol=0.0)
    assert np.all(np.diff(fit.history) >= -1e-10)


def test_objective_never_decreases_with_clamps_and_expert_e_step():
    ans = crowd(seed=5)
    n_codes = ans.n_workers * ans.n_classes
    clamp = np.full(ans.n_tasks, -1)
    clamp[:40] = np.arange(40) % ans.n_classes
    experts = FeatureLayout.uniform(ans.n_workers, ans.n_classes).code_mask(np.arange(5))
    alpha = 0.1
    resp0 = np.full((ans.n_tasks, ans.n_classes), 1.0 / ans.n_classes)
    resp0[:, 0] += 0.1
    resp0 /= resp0.sum(axis=1, keepdims=True)
    fit = run_em(ans.offsets, ans.value_codes, n_codes, resp0, crowd_m_step(ans, alpha),
                 lambda lp, lw: dirichlet_penalty(lp, lw, alpha), max_iter=50, tol=0.0,
                 clamp=clamp, e_step_rows=experts)
    assert np.all(np.diff(fit.history) >= -1e-10)
    # clamped tasks keep their one-hot posterior
    np.testing.assert_array_equal(fit.resp[:40].argmax(axis=1), clamp[:40])
    np.testing.assert_allclose(fit.resp[:40].max(axis=1), 1.0)


def test_expert_e_step_ignores_other_workers():
    ans = crowd(seed=2)
    n_codes = ans.n_workers * ans.n_classes
    experts = FeatureLayout.uniform(ans.n_workers, ans.n_classes).code_mask(np.arange(4))
    sub = ans.subset_workers(np.arange(4))
    resp0 = ans.vote_counts / ans.vote_counts.sum(axis=1, keepdims=True)
    kw = dict(max_iter=1, tol=0.0)
    m_step, pen = crowd_m_step(ans, 0.1), (lambda lp, lw: 0.0)
    full = run_em(ans.offsets, ans.value_codes, n_codes, resp0, m_step, pen, e_step_rows=experts, **kw)
    only = run_em(sub.offsets, sub.value_codes, n_codes, resp0, m_step, pen, **kw)
    # same E-step parameters for the experts -> same posteriors
    np.testing.assert_allclose(full.resp, only.resp, atol=1e-12)


def test_normalize_columns_with_unequal_alphabets():
    layout = FeatureLayout.from_sizes(np.array([2, 3]))
    counts = np.array([[1.0, 0.0], [3.0, 2.0], [0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    probs = np.exp(normalize_columns(counts, layout, 0.5))
    np.testing.assert_allclose(probs[:2].sum(axis=0), 1.0)
    np.testing.assert_allclose(probs[2:].sum(axis=0), 1.0)
    np.testing.assert_allclose(probs[0, 0], 1.5 / 5.0)
    np.testing.assert_allclose(probs[3, 1], 1.5 / 2.5)


def test_unobserved_feature_component_gets_uniform_column_without_smoothing():
    layout = FeatureLayout.from_sizes(np.array([4]))
    probs = np.exp(normalize_columns(np.zeros((4, 2)), layout, 0.0))
    np.testing.assert_allclose(probs, 0.25)


def test_hundreds_of_answers_per_task_do_not_underflow():
    data = make_crowd(n_tasks=50, n_workers=600, n_classes=4, answers_per_task=(500, 600), random_state=1)
    ans = as_answers(data.answers)
    resp0 = ans.vote_counts / ans.vote_counts.sum(axis=1, keepdims=True)
    fit = run_em(ans.offsets, ans.value_codes, ans.n_workers * 4, resp0, crowd_m_step(ans, 0.1),
                 lambda lp, lw: dirichlet_penalty(lp, lw, 0.1), max_iter=10, tol=0.0)
    assert np.all(np.isfinite(fit.resp)) and np.all(np.isfinite(fit.history))
    np.testing.assert_allclose(fit.resp.sum(axis=1), 1.0)
