"""Cluster categorical records (UCI voting, mushroom, zoo, soybean) with DiscreteMixture.

For each dataset: choose the number of clusters by BIC/ICL/held-out likelihood, fit a latent
class model with as many clusters as known classes, compare the clusters with the classes
(adjusted Rand index, contingency table; the classes are never used to fit), and list the
features that carry the clustering. Missing answers (e.g. votes not cast) are marginalised.

Usage::

    python examples/cluster_categorical_records.py [--data ../shared/data/discrete] [--out DIR]

Writes ``categorical_records_selection.png`` and ``categorical_records_features.png`` to the
output directory (default ``examples/output``).
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
import pandas as pd  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from crowdmix.discrete_mixture import DiscreteMixture  # noqa: E402
from crowdmix.feature_relevance import feature_informativeness  # noqa: E402
from crowdmix.model_selection import select_n_components  # noqa: E402
from crowdmix.plotting.model_selection import plot_component_selection  # noqa: E402

DATASETS = {"house_votes_84": 2, "mushroom": 2, "zoo": 7, "soybean_small": 4}


def find_data(path: str | None) -> Path:
    """The folder holding the discrete datasets: ``--data``, $CROWDMIX_SHARED_DATA/discrete,
    or ``shared/data/discrete`` next to the repository."""
    if path:
        return Path(path)
    env = os.environ.get("CROWDMIX_SHARED_DATA")
    if env and (Path(env) / "discrete").is_dir():
        return Path(env) / "discrete"
    for parent in Path(__file__).resolve().parents:
        cand = parent / "shared" / "data" / "discrete"
        if cand.is_dir():
            return cand
    raise SystemExit("could not find shared/data/discrete: pass --data PATH")


def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="folder holding house_votes_84/, mushroom/, ...")
    parser.add_argument("--out", default=str(Path(__file__).parent / "output"))
    args = parser.parse_args(argv)
    root, out = find_data(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore", UserWarning)

    fig_sel, axes_sel = plt.subplots(len(DATASETS), 3, figsize=(10, 2.6 * len(DATASETS)))
    fig_feat, axes_feat = plt.subplots(1, len(DATASETS), figsize=(4 * len(DATASETS), 4))
    summary = []
    for row, (name, k) in enumerate(DATASETS.items()):
        # values are read as text: "y"/"n", letters, "true"/"false"; empty cell = missing
        X = pd.read_csv(root / name / "data.csv", dtype=str, keep_default_na=False)
        y = pd.read_csv(root / name / "classes.csv", dtype=str)["class"]
        t0 = time.perf_counter()
        sel = select_n_components(
            X, range(1, k + 4), estimator=DiscreteMixture(n_init=3, random_state=0),
            criteria=("bic", "icl", "heldout"), cv=3, random_state=0,
        )
        t_sel = time.perf_counter() - t0
        plot_component_selection(sel, axes=axes_sel[row])
        axes_sel[row, 0].set_ylabel(f"{name}\nBIC", fontsize=9)

        t0 = time.perf_counter()
        model = DiscreteMixture(k, n_init=10, random_state=0).fit(X)
        t_fit = time.perf_counter() - t0
        ari = adjusted_rand_score(y, model.labels_)
        table = feature_informativeness(model, X)
        print(f"\n=== {name}: {X.shape[0]} records x {X.shape[1]} features, {k} classes ===")
        print(f"number of clusters chosen: {sel.best}  (selection {t_sel:.1f} s)")
        print(f"clusters = classes ({k}): ARI {ari:.3f}  (fit, 10 restarts: {t_fit:.2f} s)")
        print("contingency (rows: class, columns: cluster):")
        print(pd.crosstab(y.rename("class"), pd.Series(model.labels_, name="cluster")).to_string())
        print("most informative features (mutual information with the cluster, nats):")
        print(table[["mutual_information", "normalized", "p_value"]].head(5).round(4).to_string())
        top = table.head(10)[::-1]
        ax = axes_feat[row]
        ax.barh(top.index.astype(str), top["mutual_information"], color="tab:blue")
        ax.set_title(f"{name} (ARI {ari:.2f})", fontsize=10)
        ax.set_xlabel("I(feature; cluster) [nats]")
        ax.tick_params(axis="y", labelsize=8)
        summary.append({"dataset": name, "classes": k, "ari": ari, "fit_seconds": t_fit,
                        **{f"best_{c}": v for c, v in sel.best.items()}})
    fig_sel.tight_layout()
    fig_sel.savefig(out / "categorical_records_selection.png", dpi=110)
    fig_feat.tight_layout()
    fig_feat.savefig(out / "categorical_records_features.png", dpi=110)
    result = pd.DataFrame(summary).set_index("dataset")
    print("\n" + result.round(3).to_string())
    print(f"\nfigures written to {out}/")
    return result


if __name__ == "__main__":
    main()
