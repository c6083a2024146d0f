"""Plot of model-selection criteria versus the number of components (needs matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["plot_component_selection"]

_LABELS = {
    "bic": "BIC (lower is better)",
    "icl": "ICL (lower is better)",
    "aic": "AIC (lower is better)",
    "heldout": "held-out log-likelihood\nper sample (higher is better)",
}


def plot_component_selection(selection: Any, criteria: Sequence[str] | None = None, axes: Any = None):
    """One panel per criterion against the number of components, the chosen number marked.

    Parameters
    ----------
    selection : crowdmix.model_selection.ComponentSelection
    criteria : sequence of str, optional
        Criteria to show (default: every criterion computed).
    axes : sequence of matplotlib Axes, optional
        One per criterion; a new figure is made if omitted.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from crowdmix.discrete_mixture import make_discrete_mixture
    >>> from crowdmix.model_selection import select_n_components
    >>> from crowdmix.plotting.model_selection import plot_component_selection
    >>> data = make_discrete_mixture(200, 10, 2, concentration=0.2, random_state=0)
    >>> sel = select_n_components(data.X, range(1, 4), criteria=["bic", "icl"], random_state=0)
    >>> fig = plot_component_selection(sel)
    >>> len(fig.axes)
    2
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plotting needs matplotlib: pip install 'crowdmix[plot]'"
        ) from err
    crits = list(selection.best) if criteria is None else list(criteria)
    unknown = [c for c in crits if c not in selection.best]
    if unknown:
        raise ValueError(f"criteria {unknown} were not computed; available: {list(selection.best)}")
    if axes is None:
        fig, axes = plt.subplots(1, len(crits), figsize=(3.2 * len(crits), 3.0), squeeze=False)
        axes = axes[0]
    else:
        axes = list(axes) if not hasattr(axes, "plot") else [axes]
        if len(axes) != len(crits):
            raise ValueError(f"need {len(crits)} axes, got {len(axes)}")
        fig = axes[0].figure
    table = selection.criteria
    n = table.index.to_numpy()
    for ax, crit in zip(axes, crits, strict=True):
        y = table[crit].to_numpy()
        if crit == "heldout" and "heldout_se" in table:
            ax.errorbar(n, y, yerr=table["heldout_se"].to_numpy(), marker="o", ms=4, capsize=2)
        else:
            ax.plot(n, y, marker="o", ms=4)
        best = selection.best[crit]
        ax.axvline(best, color="tab:red", ls="--", lw=1)
        ax.set_title(f"{crit}: best n = {best}", fontsize=10)
        ax.set_xlabel("number of components")
        ax.set_ylabel(_LABELS.get(crit, crit), fontsize=9)
        ax.set_xticks(n)
    fig.tight_layout()
    return fig
