"""Clustering of real categorical data: crowdmix DiscreteMixture vs StepMix and k-modes, one run.

For every dataset in ``../shared/data/discrete`` (house_votes_84, mushroom, zoo, soybean_small
and the binarised auditory-cortex recordings), with the number of components equal to the number
of known classes and the same number of restarts for every method:

- adjusted Rand index (ARI) of the clusters with the known classes (classes are never used to fit);
- wall-clock time of the fit, and the ratio StepMix time / crowdmix time.

Methods: ``DiscreteMixture`` (k-modes seeding, default smoothing), ``DiscreteMixture`` with
``init="stagewise"`` (deterministic, one run), StepMix ``measurement="categorical_nan"`` (latent
class analysis, missing values marginalised, integer-coded input) and k-modes (Huang init;
missing values as their own category, k-modes has no notion of missing).

``--threads 1`` runs every method on one thread (numba's and OpenBLAS's pools): the fair
setting on a shared machine, where spinning worker threads of either pool lose badly to
oversubscription. Each method is run once untimed first (numba kernels load from cache; StepMix/k-modes import
costs) and then timed. The machine is shared, so report time *ratios*.

``OMP_WAIT_POLICY=PASSIVE`` is set before numba starts (unless already set): on an
oversubscribed machine the default (spinning) OpenMP threads of numba's parallel kernels lose
10-20x while waiting for descheduled siblings; with passive waiting they do not. It does not
affect StepMix or k-modes (numpy/scipy code without OpenMP).

Usage::

    python benchmarks/bench_clustering.py [--data ../shared/data/discrete] [--restarts 10]
        [--datasets mushroom zoo] [--out benchmarks/results/clustering.csv]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from crowdmix.discrete_mixture import DiscreteMixture  # noqa: E402

DATASETS = {
    # name: (file, n_components)
    "house_votes_84": ("data.csv", 2),
    "mushroom": ("data.csv", 2),
    "zoo": ("data.csv", 7),
    "soybean_small": ("data.csv", 4),
    "szabo2021_auditory_D_E_I": ("data_binary_cell_x_50ms.csv", 18),
    "szabo2021_auditory_D_E_III": ("data_binary_cell_x_50ms.csv", 18),
}


def find_data(path: str | None) -> Path:
    if path is not None:
        return Path(path)
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "shared" / "data" / "discrete"
        if cand.is_dir():
            return cand
    raise SystemExit("could not find shared/data/discrete; pass --data PATH")


def load(root: Path, name: str) -> tuple[pd.DataFrame, np.ndarray]:
    file, _ = DATASETS[name]
    X = pd.read_csv(root / name / file, dtype=str, keep_default_na=False)
    y = pd.read_csv(root / name / "classes.csv", dtype=str)["class"].to_numpy()
    return X, y


def integer_codes(X: pd.DataFrame) -> np.ndarray:
    """Per-column integer codes 0..r-1 with NaN for missing (StepMix's categorical_nan input)."""
    out = np.empty(X.shape, dtype=float)
    for j, col in enumerate(X.columns):
        codes, _ = pd.factorize(X[col].replace("", np.nan), sort=True)
        out[:, j] = np.where(codes < 0, np.nan, codes)
    return out


def run_crowdmix(X, k, restarts, seed, init="kmodes"):
    model = DiscreteMixture(k, init=init, n_init=restarts, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X).labels_


def run_stepmix(Xc, k, restarts, seed):
    from stepmix import StepMix

    model = StepMix(n_components=k, measurement="categorical_nan", n_init=restarts,
                    random_state=seed, verbose=0, progress_bar=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(Xc)
    return model.predict(Xc)


def run_kmodes(X, k, restarts, seed):
    from kmodes.kmodes import KModes

    arr = X.replace("", "<missing>").to_numpy()
    return KModes(n_clusters=k, init="Huang", n_init=restarts, random_state=seed,
                  n_jobs=1).fit_predict(arr)


def timed(fn, *args):
    fn(*args)  # warm-up (numba cache load, imports)
    t = time.perf_counter()
    labels = fn(*args)
    return labels, time.perf_counter() - t


def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="folder holding the discrete datasets")
    parser.add_argument("--restarts", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--methods", nargs="*",
                        default=["crowdmix", "crowdmix_stagewise", "stepmix", "kmodes"])
    parser.add_argument("--out", default=None, help="CSV file for the table")
    parser.add_argument("--threads", type=int, default=None,
                        help="limit every method to this many threads (numba and BLAS)")
    args = parser.parse_args(argv)
    limiter = None
    if args.threads is not None:
        import numba
        from threadpoolctl import threadpool_limits

        numba.set_num_threads(args.threads)
        limiter = threadpool_limits(limits=args.threads)  # noqa: F841 - active while it lives
    root = find_data(args.data)
    rows = []
    for name in args.datasets:
        X, y = load(root, name)
        k = DATASETS[name][1]
        # the auditory sets are large for StepMix: 3 restarts as in the data README
        restarts = 3 if name.startswith("szabo") else args.restarts
        row = {"dataset": name, "n_samples": len(X), "n_features": X.shape[1],
               "n_components": k, "restarts": restarts}
        runners = {
            "crowdmix": partial(run_crowdmix, X, k, restarts, args.seed),
            "crowdmix_stagewise": partial(run_crowdmix, X, k, 1, args.seed, init="stagewise"),
            "stepmix": partial(run_stepmix, integer_codes(X), k, restarts, args.seed),
            "kmodes": partial(run_kmodes, X, k, restarts, args.seed),
        }
        for method in args.methods:
            if method == "kmodes" and name.startswith("szabo"):
                continue  # k-modes on 510 binary features x 18 clusters is not a reference here
            if method == "crowdmix_stagewise" and name.startswith("szabo"):
                continue  # 17 splits over 130,000 feature pairs: minutes; see docs/clustering.md
            labels, seconds = timed(runners[method])
            row[f"ari_{method}"] = adjusted_rand_score(y, labels)
            row[f"time_{method}"] = seconds
            print(f"{name:28s} {method:20s} ARI {row[f'ari_{method}']:.3f}  {seconds:7.2f} s",
                  flush=True)
        if "time_stepmix" in row and "time_crowdmix" in row:
            row["speedup_vs_stepmix"] = row["time_stepmix"] / row["time_crowdmix"]
        rows.append(row)
        if args.out:  # written after every dataset, so a long run can be inspected or stopped
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(rows).set_index("dataset").to_csv(args.out)
    table = pd.DataFrame(rows).set_index("dataset")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.round(3).to_string())
    return table


if __name__ == "__main__":
    main()
