"""Choosing the number of components: BIC, ICL, AIC, held-out log-likelihood, plot."""

from __future__ import annotations

import numpy as np
import pytest

from crowdmix.discrete_mixture import DiscreteMixture, make_discrete_mixture
from crowdmix.exceptions import InputError
from crowdmix.model_selection import ComponentSelection, select_n_components


@pytest.fixture(scope="module")
def separated():
    # well-separated planted mixture with 3 components
    return make_discrete_mixture(500, 16, 3, concentration=0.15, random_state=11)


@pytest.fixture(scope="module")
def selection(separated):
    est = DiscreteMixture(n_init=3, random_state=0)
    return select_n_components(separated.X, range(1, 6), estimator=est, cv=3, random_state=0)


def test_bic_selects_planted_number(selection):
    assert selection.best["bic"] == 3
    assert selection.best["icl"] == 3
    assert selection.best["heldout"] >= 3  # extra components do not help out of sample ...
    table = selection.criteria
    assert table.loc[3, "heldout"] >= table["heldout"].max() - 2 * table.loc[3, "heldout_se"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bic_on_other_planted_numbers(seed):
    k = seed + 1
    data = make_discrete_mixture(400, 16, k, concentration=0.15, random_state=seed)
    sel = select_n_components(data.X, range(1, 6), criteria=["bic"],
                              estimator=DiscreteMixture(n_init=3, random_state=0))
    assert sel.best["bic"] == k


def test_criteria_agree_with_the_model_methods(separated, selection):
    model = selection.models[3]
    assert isinstance(model, DiscreteMixture) and model.n_components == 3
    row = selection.criteria.loc[3]
    assert row["bic"] == pytest.approx(model.bic(separated.X))
    assert row["aic"] == pytest.approx(model.aic(separated.X))
    assert row["icl"] == pytest.approx(model.icl(separated.X))
    assert row["n_parameters"] == model.n_parameters()
    assert selection.best_model("bic") is model
    # the training log-likelihood never decreases with more components
    ll = selection.criteria["log_likelihood"].to_numpy()
    assert np.all(np.diff(ll) >= -1e-3)
    assert "best: bic=3" in repr(selection)


def test_heldout_uses_the_full_alphabet():
    # category "rare" occurs once: in whichever fold it lands out of training, it still has a
    # smoothed probability, so the held-out likelihood stays finite
    data = make_discrete_mixture(60, 5, 2, concentration=0.2, random_state=0)
    X = data.X.astype(object)
    X.iloc[0, 0] = "rare"
    sel = select_n_components(X, [1, 2], criteria=["heldout"], cv=3,
                              estimator=DiscreteMixture(n_init=2, random_state=0))
    assert np.isfinite(sel.criteria["heldout"]).all()
    assert sel.criteria["heldout"].min() > -50


def test_bad_arguments(separated):
    X = separated.X
    with pytest.raises(InputError, match="criteria"):
        select_n_components(X, [1, 2], criteria=["bogus"])
    with pytest.raises(InputError, match="positive integers"):
        select_n_components(X, [0, 1])
    with pytest.raises(InputError, match="cv must be"):
        select_n_components(X, [1], cv=1)
    with pytest.raises(InputError, match="estimator must be a DiscreteMixture"):
        select_n_components(X, [1], estimator=object())
    with pytest.raises(InputError, match="only 3 samples"):
        select_n_components(X.iloc[:3], [1, 4])


def test_plot(selection, tmp_path):
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    fig = selection.plot()
    assert len(fig.axes) == 4
    assert fig.axes[0].get_title() == "bic: best n = 3"
    fig.savefig(tmp_path / "sel.png")
    fig2 = selection.plot(criteria=["heldout"])
    assert len(fig2.axes) == 1
    with pytest.raises(ValueError, match="not computed"):
        ComponentSelection(selection.criteria[["bic"]], {"bic": 3}, {}).plot(criteria=["aic"])
