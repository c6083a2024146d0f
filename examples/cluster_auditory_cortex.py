"""Cluster single trials of rat auditory cortex population activity (Szabo & Bartho, 2021).

Each of the 3,618 trials (18 sounds, 201 trials each) is a binary vector: did unit ``u`` fire in
50 ms window ``w`` of the 500 ms response (51 units x 10 windows = 510 features, 8% ones). A
mixture of 18 product-Bernoulli components is fitted without the stimulus labels; then

- the clusters are compared with the stimuli (adjusted Rand index, contingency table);
- the mutual information of every (unit, window) with the cluster shows which units and which
  time windows carry the clustering;
- the mixture is refitted on the most informative features only (sparse clustering), and, with
  ``--stagewise``, with the stagewise, expert-driven EM of Zhao & Zucker (minutes here: 18
  components need 17 splits, each scoring 130,000 feature pairs).

Stimulus identity is only partly recoverable from single trials here (a supervised classifier
reaches about 0.45 accuracy, chance 0.056), so expect a low ARI; the point is how fast the fit
is and what the informativeness map shows.

Usage::

    python examples/cluster_auditory_cortex.py [--data PATH] [--out DIR]

``--data`` is the folder ``szabo2021_auditory_D_E_I`` (default: found under
``../shared/data/discrete``). Figures go to ``--out`` (default ``examples/output``).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # numba threads on a busy machine

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from crowdmix.discrete_mixture import DiscreteMixture  # noqa: E402
from crowdmix.feature_relevance import feature_informativeness  # noqa: E402

NAME = "szabo2021_auditory_D_E_I"
FILE = "data_binary_cell_x_50ms.csv"


def find_data(path: str | None) -> Path:
    if path:
        p = Path(path)
        return p / NAME if (p / NAME / FILE).is_file() else p
    env = os.environ.get("CROWDMIX_SHARED_DATA")
    if env and (Path(env) / "discrete" / NAME).is_dir():
        return Path(env) / "discrete" / NAME
    for parent in Path(__file__).resolve().parents:
        cand = parent / "shared" / "data" / "discrete" / NAME
        if cand.is_dir():
            return cand
    raise SystemExit(f"could not find {NAME}/; pass --data PATH")


def unit_window_map(values: pd.Series) -> pd.DataFrame:
    """Features named u<unit>_w<window> -> a units x windows table."""
    parts = values.index.to_series().str.extract(r"u(?P<unit>\d+)_w(?P<window>\d+)").astype(int)
    frame = pd.DataFrame({"unit": parts["unit"], "window": parts["window"], "v": values.to_numpy()})
    return frame.pivot(index="unit", columns="window", values="v").sort_index()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help=f"folder {NAME}/ (or its parent)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "output"))
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--stagewise", action="store_true",
                        help="also run stagewise EM (slow here: 17 splits over 130,000 pairs)")
    args = parser.parse_args(argv)
    folder, out = find_data(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore", UserWarning)

    X = pd.read_csv(folder / FILE, dtype=np.int8)
    stim = pd.read_csv(folder / "classes.csv")["class"].to_numpy()
    print(f"{X.shape[0]} trials x {X.shape[1]} binary features ({X.to_numpy().mean():.1%} ones), "
          f"{len(np.unique(stim))} stimuli")

    t0 = time.perf_counter()
    model = DiscreteMixture(18, n_init=args.restarts, random_state=0).fit(X)
    t_fit = time.perf_counter() - t0
    ari = adjusted_rand_score(stim, model.labels_)
    print(f"\nDiscreteMixture(18 components, {args.restarts} restarts): {t_fit:.1f} s, "
          f"{model.n_iter_} iterations, ARI with the stimuli {ari:.3f}")

    table = feature_informativeness(model, X)
    mi_map = unit_window_map(table["mutual_information"])
    top = table.head(40)
    n_units = top.index.str.extract(r"u(\d+)_")[0].nunique()
    print(f"\n{int((table['p_value'] < 0.01 / len(table)).sum())} of {len(table)} features depend "
          f"on the cluster (G-test, Bonferroni 1%); the 40 most informative features cover "
          f"{n_units} units:")
    print(top[["mutual_information", "normalized"]].head(12).round(3).to_string())
    print("\ninformation per window (sum over units, nats):")
    print(mi_map.sum(axis=0).round(3).to_string())

    results = {"full": (ari, t_fit, X.shape[1])}
    for n_feat in (30, 100):
        t0 = time.perf_counter()
        sparse = DiscreteMixture(18, n_init=args.restarts, features=table.index[:n_feat],
                                 random_state=0).fit(X)
        dt = time.perf_counter() - t0
        results[f"top{n_feat}"] = (adjusted_rand_score(stim, sparse.labels_), dt, n_feat)
    if args.stagewise:
        t0 = time.perf_counter()
        stage = DiscreteMixture(18, init="stagewise").fit(X)
        dt = time.perf_counter() - t0
        results["stagewise"] = (adjusted_rand_score(stim, stage.labels_), dt, X.shape[1])
        print(f"\nstagewise EM chose {len(stage.experts_)} experts, first: "
              f"{list(stage.experts_[:8])}")
    print("\nvariant                 ARI    seconds  features in E-step")
    for key, (a, dt, nf) in results.items():
        print(f"{key:22s} {a:6.3f} {dt:9.1f}  {nf}")

    # ---- figures
    cont = pd.crosstab(pd.Series(stim, name="stimulus"), pd.Series(model.labels_, name="cluster"))
    rows, cols = linear_sum_assignment(-cont.to_numpy())
    order = list(cont.columns[cols]) + [c for c in cont.columns if c not in cont.columns[cols]]
    cont = cont[order]
    fig, axes = plt.subplots(1, 3, figsize=(16, 5), gridspec_kw={"width_ratios": [1.1, 1.2, 0.8]})
    im = axes[0].imshow(cont.to_numpy(), cmap="Greys", aspect="auto")
    axes[0].set_xticks(range(len(order)), order, fontsize=7)
    axes[0].set_yticks(range(len(cont.index)), cont.index, fontsize=7)
    axes[0].set_xlabel("cluster (matched to stimuli)")
    axes[0].set_ylabel("stimulus")
    axes[0].set_title(f"trials per stimulus and cluster (ARI {ari:.3f})", fontsize=10)
    fig.colorbar(im, ax=axes[0], fraction=0.04)
    im = axes[1].imshow(mi_map.to_numpy(), cmap="viridis", aspect="auto")
    axes[1].set_xticks(range(mi_map.shape[1]), [f"{50 * w}-{50 * w + 50}" for w in mi_map.columns],
                       rotation=60, fontsize=7)
    axes[1].set_yticks(range(0, mi_map.shape[0], 5), mi_map.index[::5], fontsize=7)
    axes[1].set_xlabel("window after sound onset [ms]")
    axes[1].set_ylabel("unit")
    axes[1].set_title("I(unit fires in window; cluster) [nats]", fontsize=10)
    fig.colorbar(im, ax=axes[1], fraction=0.04)
    per_unit = mi_map.sum(axis=1).sort_values(ascending=True).tail(15)
    axes[2].barh([f"unit {u}" for u in per_unit.index], per_unit.to_numpy(), color="tab:blue")
    axes[2].set_xlabel("information summed over windows [nats]")
    axes[2].set_title("most informative units", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "auditory_clusters.png", dpi=110)

    fig2, ax = plt.subplots(figsize=(5, 3.2))
    labels = list(results)
    ax.bar(labels, [results[k][0] for k in labels], color="tab:blue")
    ax.set_ylabel("ARI with the stimuli")
    ax.set_title("auditory cortex: full and sparse fits", fontsize=10)
    fig2.tight_layout()
    fig2.savefig(out / "auditory_variants.png", dpi=110)
    print(f"\nfigures written to {out}/")
    return results


if __name__ == "__main__":
    main()
