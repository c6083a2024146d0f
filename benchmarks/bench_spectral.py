"""Spectral-initialised Dawid-Skene ("Opt-D&S") on the five public crowd benchmarks.

Protocol (``../shared/data/crowd/README.md``): fit on all answers, score on the tasks with a
truth label. ``DawidSkene(init="spectral", random_state=r)`` is fitted for ``--states`` random
states (the random state chooses the split of the workers into three groups and the starts of
the tensor power method); the table gives the spread (min, median, max) of the error rate,
the error of the spectral estimate alone (one E-step, before EM), the majority-vote-initialised
``DawidSkene()``, the published Opt-D&S figures of Zhang et al. (2014), and the recipe of the
authors' MATLAB code re-run on these files (:func:`authors_recipe`, 3 random states). Also: how often the
method fell back to majority vote, and the time of the spectral step relative to the EM that
follows it.

Writes ``benchmarks/results/spectral.md``.

Usage::

    python benchmarks/bench_spectral.py [--datasets ...] [--states 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from crowdmix import DawidSkene, as_answers
from crowdmix.datasets import load_crowd_benchmark
from crowdmix.metrics import error_rate
from crowdmix.spectral import SpectralFallbackWarning, robust_tensor_power, spectral_posteriors

DATASETS = ["bird", "rte", "dog", "web", "trec"]
PUBLISHED = {"bird": 10.09, "rte": 7.12, "dog": 16.89, "web": 15.86, "trec": 29.80}
RESULTS = Path(__file__).resolve().parent / "results"


def authors_recipe(ans, rng: np.random.Generator) -> np.ndarray:
    """Posteriors of the recipe in the authors' MATLAB code (SpectralMethodsMeetEM), for
    comparison: workers split round-robin by numeric ID (``mod(id, 3)``), moments not
    symmetrised, whitening by the SVD of M2, components matched to classes greedily (argmax,
    collisions to the first free class), confusions floored at 1e-6, then 10 EM rounds
    without smoothing (zero-probability factors skipped in the E-step)."""
    n, m, k = ans.n_tasks, ans.n_workers, ans.n_classes
    group = np.array([int(w) for w in ans.workers]) % 3
    z = np.zeros((3, n, k))
    np.add.at(z, (group[ans.worker], ans.task, ans.label), 1.0)
    means, weights = np.zeros((3, k, k)), np.zeros((3, k))
    for a, b, c in ((1, 2, 0), (2, 0, 1), (0, 1, 2)):
        za, zb, zc = z[a], z[b], z[c]
        za2 = za @ (zc.T @ zb @ np.linalg.inv(za.T @ zb)).T
        zb2 = zb @ (zc.T @ za @ np.linalg.inv(zb.T @ za)).T
        m2 = za2.T @ zb2 / n
        m3 = np.einsum("si,sj,sk->ijk", za2, zb2, zc) / n
        u, sv, _ = np.linalg.svd(m2)
        w = u / np.sqrt(sv)
        lam, vec = robust_tensor_power(np.einsum("ijk,ia,jb,kc->abc", m3, w, w, w), rng)
        mu = np.linalg.pinv(w.T) @ (vec * lam)
        for h in range(k):
            idx = int(np.argmax(mu[:, h]))
            if weights[c, idx] != 0:
                idx = int(np.flatnonzero(weights[c] == 0)[0])
            means[c][:, idx], weights[c, idx] = mu[:, h], lam[h] ** -2.0
    conf = np.zeros((m, k, k))
    total = z.sum(axis=0)
    for i in range(m):
        g = group[i]
        rows = ans.worker == i
        x = np.zeros((n, k))
        x[ans.task[rows], ans.label[rows]] = 1.0
        alt = [h for h in range(3) if h != g]
        mu_alt, w_alt = means[alt].sum(axis=0), weights[alt].sum(axis=0) / 2
        conf[i] = (x.T @ (total - z[g]) / n) @ np.linalg.inv(np.diag(w_alt) @ mu_alt.T)
    conf = np.maximum(conf, 1e-6)
    conf /= conf.sum(axis=1, keepdims=True)
    for _ in range(10):
        p = conf[ans.worker, ans.label]  # (answers, k): P(answer | class)
        score = np.zeros((n, k))
        np.add.at(score, ans.task, np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), 0.0))
        q = np.exp(score - score.max(axis=1, keepdims=True))
        q /= q.sum(axis=1, keepdims=True)
        counts = np.zeros((m * k, k))
        np.add.at(counts, ans.value_codes, q[ans.task])
        conf = counts.reshape(m, k, k)
        with np.errstate(invalid="ignore"):
            conf = np.nan_to_num(conf / conf.sum(axis=1, keepdims=True))
    return q


def markdown(table: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (floats with two decimals), without extra dependencies."""
    cells = [[f"{v:.2f}" if isinstance(v, float) else str(v) for v in row] for row in table.to_numpy()]
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=DATASETS, choices=DATASETS)
    p.add_argument("--states", type=int, default=10, help="random states 0..N-1")
    args = p.parse_args(argv)

    rows = []
    for name in args.datasets:
        bench = load_crowd_benchmark(name)
        ans = as_answers(bench.answers)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mv = 100 * error_rate(DawidSkene().fit(ans).labels_, bench.truth)
        errors, init_errors, spectral_s, em_s, fallbacks = [], [], [], [], 0
        for state in range(args.states):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                start = time.perf_counter()
                resp = spectral_posteriors(ans, random_state=np.random.default_rng(state))
                spectral_s.append(time.perf_counter() - start)
                ds = DawidSkene(init="spectral", random_state=state).fit(ans)
                start = time.perf_counter()
                DawidSkene(init=resp).fit(ans)  # the same EM, timed without the spectral step
                em_s.append(time.perf_counter() - start)
            fallbacks += any(issubclass(w.category, SpectralFallbackWarning) for w in caught)
            init_labels = pd.Series(ans.classes.take(resp.argmax(axis=1)), index=ans.tasks)
            init_errors.append(100 * error_rate(init_labels, bench.truth))
            errors.append(100 * error_rate(ds.labels_, bench.truth))
        recipe = []
        for state in range(min(args.states, 3)):
            q = authors_recipe(ans, np.random.default_rng(state))
            recipe.append(100 * error_rate(pd.Series(ans.classes.take(q.argmax(axis=1)), index=ans.tasks),
                                           bench.truth))
        row = {
            "dataset": name,
            "Opt-D&S min": min(errors),
            "median": statistics.median(errors),
            "max": max(errors),
            "published Opt-D&S": PUBLISHED[name],
            "max - published": max(errors) - PUBLISHED[name],
            "spectral alone (median)": statistics.median(init_errors),
            "MV-init DS": mv,
            "authors' recipe (median)": statistics.median(recipe),
            "fallbacks": f"{fallbacks}/{args.states}",
            "spectral time / EM time": statistics.median(spectral_s) / max(statistics.median(em_s), 1e-9),
        }
        rows.append(row)
        print(", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
              flush=True)
    table = pd.DataFrame(rows)
    header = (
        f"DawidSkene(init='spectral'), default settings, random states 0..{args.states - 1}; "
        f"error rates in %; measured {time.strftime('%Y-%m-%d %H:%M')} "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores).\n\n"
    )
    text = header + markdown(table) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "spectral.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
