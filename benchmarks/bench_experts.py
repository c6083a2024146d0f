"""Dawid-Skene on the top-N workers by pairwise mutual information, and the automatic N.

For each public crowd dataset (bird, rte, dog, web, trec; ../shared/data/crowd) this prints:
the error of all-worker ``DawidSkene()``, the error of ``DawidSkene(experts=N)`` over a grid of
N, the N chosen without truth by each criterion of ``crowdmix.experts.select_n_experts``
(held-out log-likelihood = the default of ``experts="auto"``, residual conditional MI, knee,
stability), and the best N in hindsight (chosen with the truth, for reference only).

Run: ``python benchmarks/bench_experts.py [name ...]`` (takes minutes; run in the background).
``python benchmarks/bench_experts.py --variants [name ...]`` compares the ranking variants
(small-overlap treatments, summed, pooled and one-coin skill scores) on synthetic and real data;
``--spammers`` where the pure spammers land in the synthetic rankings.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pandas as pd

from crowdmix import DawidSkene, as_answers
from crowdmix.datasets import list_crowd_benchmarks, load_crowd_benchmark
from crowdmix.experts import AUTO_CRITERIA, expert_grid, expert_ranking, select_n_experts
from crowdmix.metrics import error_rate

warnings.filterwarnings("ignore", category=Warning, module="crowdmix")


def main(names: list[str]) -> None:
    summary = []
    for name in names:
        bench = load_crowd_benchmark(name)
        ans = as_answers(bench.answers)
        start = time.perf_counter()
        full = DawidSkene().fit(ans)
        t_full = time.perf_counter() - start
        err_all = 100 * error_rate(full.labels_, bench.truth)
        ranking = expert_ranking(ans)
        grid = expert_grid(ans.n_workers)
        errors = {}
        for n in grid:
            est = DawidSkene(experts=list(ranking.index[: int(n)])).fit(ans)
            errors[int(n)] = 100 * error_rate(est.labels_, bench.truth)
        sel = select_n_experts(ans, compare=True)
        chosen = sel.extra["chosen_by"]
        for n in chosen.values():
            if n not in errors:
                est = DawidSkene(experts=list(ranking.index[:n])).fit(ans)
                errors[n] = 100 * error_rate(est.labels_, bench.truth)
        start = time.perf_counter()
        auto = DawidSkene(experts="auto").fit(ans)
        t_auto = time.perf_counter() - start
        err_auto = 100 * error_rate(auto.labels_, bench.truth)
        best_n = min(errors, key=lambda n: (errors[n], -n))
        print(f"\n### {name}: {ans.n_workers} workers, all-worker DawidSkene {err_all:.2f} %\n")
        print("| N | error % | " + " | ".join(c for c in sel.table.columns) + " | chosen by |")
        print("|---|---|" + "---|" * len(sel.table.columns) + "---|")
        for n in sorted(errors):
            marks = [c for c, v in chosen.items() if v == n]
            if n == best_n:
                marks.append("best (truth)")
            vals = [f"{sel.table.loc[n, c]:.4f}" if n in sel.table.index else "" for c in sel.table.columns]
            print(f"| {n} | {errors[n]:.2f} | " + " | ".join(vals) + f" | {', '.join(marks)} |")
        summary.append((name, err_all, err_auto, auto.experts_info_["n_experts"], best_n, errors[best_n],
                        {c: (chosen[c], errors[chosen[c]]) for c in AUTO_CRITERIA}, t_auto / t_full))
        sys.stdout.flush()
    print("\n### Summary (error %, N in parentheses)\n")
    print("| dataset | all workers | experts='auto' | best N (truth) | " + " | ".join(AUTO_CRITERIA)
          + " | time auto / all-worker fit |")
    print("|---|---|---|---|" + "---|" * len(AUTO_CRITERIA) + "---|")
    for name, err_all, err_auto, n_auto, best_n, err_best, crit, ratio in summary:
        cells = " | ".join(f"{e:.2f} ({n})" for n, e in crit.values())
        print(f"| {name} | {err_all:.2f} | {err_auto:.2f} ({n_auto}) | {err_best:.2f} ({best_n}) | "
              f"{cells} | {ratio:.0f}x |")


VARIANTS = {
    "sum, plug-in": {"score": "sum", "correction": "none"},
    "sum, Miller-Madow": {"score": "sum", "correction": "miller-madow"},
    "sum, min overlap 5": {"score": "sum", "correction": "none", "min_overlap": 5},
    "sum, overlap-weighted": {"score": "sum", "correction": "none", "weighting": "overlap"},
    "sum, missing as category": {"score": "sum", "missing": "category"},
    "pooled": {"score": "pooled"},
    "skill: pooled MI through g_K^-1 (default)": {"score": "skill"},
}


def variants(names: list[str]) -> None:
    """Small-overlap treatments and scores: Spearman with the true accuracy on synthetic
    one-coin crowds and on the real data (workers with >= 20 scored answers), and the mean
    Dawid-Skene error over N in {5, 10, 15, 20, 30} experts."""
    from scipy.stats import spearmanr

    from crowdmix.datasets import make_one_coin_crowd
    from crowdmix.mutual_information import rank_workers

    print("\n### Synthetic one-coin crowds: mean Spearman (min) over 10 seeds, 500 tasks x 30 "
          "workers x 5 answers per task (3 random guessers, the rest from random to 0.95)\n")
    print("| variant | K=2 | K=3 | K=4 | K=5 |")
    print("|---|---|---|---|---|")
    for label, kw in VARIANTS.items():
        cells = []
        for k in (2, 3, 4, 5):
            acc = np.concatenate([np.full(3, 1.0 / k), np.linspace(1.0 / k, 0.95, 28)[1:]])
            rhos = []
            for seed in range(10):
                crowd = make_one_coin_crowd(n_tasks=500, n_workers=30, n_classes=k, accuracies=acc,
                                            answers_per_task=5, random_state=seed)
                r = rank_workers(crowd.answers, **kw)
                truth = dict(zip(crowd.worker_ids, acc, strict=True))
                rhos.append(spearmanr(r["score"], [truth[w] for w in r.index]).statistic)
            cells.append(f"{np.mean(rhos):.3f} ({np.min(rhos):.2f})")
        print(f"| {label} | " + " | ".join(cells) + " |")
        sys.stdout.flush()
    cells = []
    for k in (2, 3, 4, 5):  # the ceiling: each worker's empirical accuracy, computed with the truth
        acc = np.concatenate([np.full(3, 1.0 / k), np.linspace(1.0 / k, 0.95, 28)[1:]])
        rhos = []
        for seed in range(10):
            crowd = make_one_coin_crowd(n_tasks=500, n_workers=30, n_classes=k, accuracies=acc,
                                        answers_per_task=5, random_state=seed)
            df = crowd.answers
            right = (df["label"].to_numpy() == crowd.truth.loc[df["task"]].to_numpy())
            emp = pd.Series(right).groupby(df["worker"].to_numpy()).mean()
            truth = pd.Series(acc, index=crowd.worker_ids)
            rhos.append(spearmanr(emp, truth.loc[emp.index]).statistic)
        cells.append(f"{np.mean(rhos):.3f} ({np.min(rhos):.2f})")
    print("| oracle: empirical accuracy from the truth | " + " | ".join(cells) + " |")
    print("\n### Real data: Spearman with the empirical accuracy / mean DS error % over "
          "N in {5, 10, 15, 20, 30}\n")
    print("| variant | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names) + "")
    rows = {label: [] for label in VARIANTS}
    for name in names:
        bench = load_crowd_benchmark(name)
        ans = as_answers(bench.answers)
        df = bench.answers.merge(bench.truth.rename("truth").reset_index(), on="task")
        acc = (df["label"] == df["truth"]).groupby(df["worker"]).mean()
        count = df.groupby("worker").size()
        ok = count[count >= 20].index
        for label, kw in VARIANTS.items():
            r = rank_workers(ans, **kw)
            rho = spearmanr(r.loc[ok, "score"], acc.loc[ok]).statistic
            errs = [100 * error_rate(DawidSkene(experts=list(r.index[:n])).fit(ans).labels_,
                                     bench.truth) for n in (5, 10, 15, 20, 30)]
            rows[label].append(f"{rho:.2f} / {np.mean(errs):.2f}")
    for label, cells in rows.items():
        print(f"| {label} | " + " | ".join(cells) + " |")


def spammers(seeds: int = 10) -> None:
    """Where the pure spammers (accuracy 1/K) land in the ranking of the synthetic crowds."""
    from crowdmix.datasets import make_one_coin_crowd
    from crowdmix.mutual_information import rank_workers

    print(f"\n### Pure spammers on synthetic one-coin crowds ({seeds} seeds per K, 3 spammers "
          "among 30 workers)\n")
    print("| score | K | crowds where all spammers rank below every worker with s >= 0.6 | "
          "mean number of non-spammers ranked below the best spammer |")
    print("|---|---|---|---|")
    for score in ("pooled", "skill"):
        for k in (2, 3, 4, 5):
            acc = np.concatenate([np.full(3, 1.0 / k), np.linspace(1.0 / k, 0.95, 28)[1:]])
            skill = (k * acc - 1) / (k - 1)
            ok, below = 0, []
            for seed in range(seeds):
                crowd = make_one_coin_crowd(n_tasks=500, n_workers=30, n_classes=k, accuracies=acc,
                                            answers_per_task=5, random_state=seed)
                r = rank_workers(crowd.answers, score=score)["score"]
                sc = r.loc[crowd.worker_ids].to_numpy()
                best_spam = sc[:3].max()
                ok += bool(best_spam < sc[skill >= 0.6].min())
                below.append(int(np.sum(sc[3:] < best_spam)))
            print(f"| {score} | {k} | {ok}/{seeds} | {np.mean(below):.1f} |")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "--spammers":
        spammers()
    elif args and args[0] == "--variants":
        variants(args[1:] or list_crowd_benchmarks())
    else:
        main(args or list_crowd_benchmarks())
