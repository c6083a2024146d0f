"""Replication of Zhao & Zucker's sparse-experts study (stagewise EM, arXiv:1506.02975).

100 workers, 1,000 tasks; a few one-coin experts (accuracy uniform in [0.6, 0.9]) among pure
noise workers whose answers ignore the truth (``crowdmix.datasets.make_sparse_expert_crowd``);
20, 10, 7, 5 and 3 experts (20% down to 3%), 10 repeats per level. Variants: binary (K = 2),
K = 5, and binary with 70% of the answers missing.

Methods (error rate on all tasks; no truth used in fitting):

- oracle: posterior under the *true* parameters;
- majority vote (``crowdmix.MajorityVote``);
- MV-initialised EM (``DawidSkene()``) and spectral-initialised EM (``DawidSkene(init="spectral")``,
  Zhang et al.'s Opt-D&S) when available;
- stagewise + refine (auto; default): ``StagewiseEM()``, whose refinement's E-step set (all
  workers, the experts plus the informative workers, or the experts) is chosen without truth by
  held-out log-likelihood (``refine_features="auto"``); the chosen set is appended to
  ``benchmarks/results/stagewise_synthetic_choices.csv``;
- stagewise (expert-only posteriors) and stagewise + refine (informative)
  (``StagewiseEM(weighted="mass", refine_features="informative")``: E-step of the refinement on
  the experts plus the workers significantly dependent on the stagewise classes; rows named
  ``stagewise + refine`` in the CSV);
- stagewise + refine on all workers (``weighted="mass", refine_features="all"``: the paper's
  ordinary EM refinement; for complete data "mass" selection is the w-weighted rule);
- unweighted pair selection (``weighted=False``, informative refinement; binary variant only).

Usage::

    python benchmarks/bench_stagewise_synthetic.py run [--variants binary k5 missing70] [--repeats 10]
    python benchmarks/bench_stagewise_synthetic.py run --variants k5 --recompute
    python benchmarks/bench_stagewise_synthetic.py report

``run`` appends one row per (variant, level, repeat, method) to
``benchmarks/results/stagewise_synthetic.csv``, computing only the methods a (variant, level,
repeat) does not have yet (so it resumes where it stopped, and a new method is added to an
existing study without recomputing the others); ``--recompute`` first drops the rows of the
stagewise methods (``STAGEWISE_METHODS``) of the chosen variants, and their refinement choices,
so that a change of the algorithm is measured again while the baselines are kept; ``report`` prints
the mean error with its spread (standard deviation, min-max) over repeats as markdown, writes
``benchmarks/results/stagewise_synthetic.md`` and the figure ``docs/img/stagewise_synthetic.png``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from crowdmix import DawidSkene, MajorityVote, as_answers
from crowdmix.datasets import make_sparse_expert_crowd
from crowdmix.em import posterior
from crowdmix.exceptions import ConvergenceWarning
from crowdmix.stagewise import StagewiseEM

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "benchmarks" / "results" / "stagewise_synthetic.csv"
MD = ROOT / "benchmarks" / "results" / "stagewise_synthetic.md"
CHOICES = ROOT / "benchmarks" / "results" / "stagewise_synthetic_choices.csv"
FIG = ROOT / "docs" / "img" / "stagewise_synthetic.png"
LEVELS = [20, 10, 7, 5, 3]
VARIANTS = {
    "binary": dict(n_classes=2, missing=0.0),
    "k5": dict(n_classes=5, missing=0.0),
    "missing70": dict(n_classes=2, missing=0.7),
}
#: the estimator's default, ``StagewiseEM()`` (held-out choice of the refinement's E-step set)
DEFAULT = "stagewise + refine (auto; default)"
METHOD_ORDER = [
    "oracle", "majority vote", "MV-initialised EM", "spectral-initialised EM", "stagewise",
    DEFAULT, "stagewise + refine", "stagewise + refine (all workers)",
    "unweighted stagewise + refine",
]
#: the methods that run StagewiseEM (recomputed by ``run --recompute`` after an algorithm change)
STAGEWISE_METHODS = [
    "stagewise", DEFAULT, "stagewise + refine", "stagewise + refine (all workers)",
    "unweighted stagewise + refine",
]
#: column titles of the report (the CSV keeps the names rows were written with)
TITLES = {"stagewise + refine": "stagewise + refine (informative)"}


def _has_spectral() -> bool:
    from crowdmix import dawid_skene

    return "spectral" in getattr(dawid_skene, "_INIT_NAMES", ())


def oracle_posterior(crowd, ans) -> np.ndarray:
    """Posterior of every task under the true confusion matrices and class prior."""
    m, k = ans.n_workers, ans.n_classes
    rows = [crowd.worker_ids.index(w) for w in ans.workers]
    classes = list(ans.classes)
    conf = crowd.confusions[rows][:, classes][:, :, classes]  # encoder order of the labels
    with np.errstate(divide="ignore"):
        lp = np.maximum(np.log(conf.reshape(m * k, k)), -700.0)
    resp, _ = posterior(ans.offsets, ans.value_codes, lp, np.log(crowd.class_prior[classes]))
    return resp


def one_dataset(variant: str, n_experts: int, repeat: int, done: frozenset = frozenset()) -> list[dict]:
    """Rows of every method not in ``done`` on one simulated crowd (same seed every time)."""
    spec = VARIANTS[variant]
    seed = 10_000 * list(VARIANTS).index(variant) + 100 * n_experts + repeat
    crowd = make_sparse_expert_crowd(
        n_tasks=1000, n_workers=100, n_experts=n_experts, random_state=seed, **spec
    )
    ans = as_answers(crowd.answers)
    truth = crowd.truth.loc[ans.tasks].to_numpy()
    classes = np.asarray(ans.classes)
    experts = {w for w, ty in zip(crowd.worker_ids, crowd.worker_types, strict=True) if ty == "expert"}
    rows = []

    def add(method, labels, seconds, **extra):
        err = float(np.mean(np.asarray(labels) != truth))
        rows.append(dict(variant=variant, n_experts=n_experts, repeat=repeat, method=method,
                         error=100 * err, seconds=seconds, **extra))

    def todo(*methods):
        return any(m not in done for m in methods)

    def stagewise(**kw):
        t = time.perf_counter()
        sw = StagewiseEM(**kw).fit(ans)
        dt = time.perf_counter() - t
        extra = dict(experts_found=len(experts & set(sw.experts_)), expert_set=len(sw.experts_),
                     stages=sw.n_stages_)
        return sw, dt, extra

    if todo("oracle"):
        add("oracle", classes[oracle_posterior(crowd, ans).argmax(1)], 0.0)
    if todo("majority vote"):
        t = time.perf_counter()
        mv = MajorityVote().fit(ans)
        add("majority vote", mv.labels_.to_numpy(), time.perf_counter() - t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if todo("MV-initialised EM"):
            t = time.perf_counter()
            ds = DawidSkene().fit(ans)
            add("MV-initialised EM", ds.labels_.to_numpy(), time.perf_counter() - t)
        if _has_spectral() and todo("spectral-initialised EM"):
            t = time.perf_counter()
            sp = DawidSkene(init="spectral").fit(ans)
            add("spectral-initialised EM", sp.labels_.to_numpy(), time.perf_counter() - t)
        if todo(DEFAULT):
            sw, dt, extra = stagewise()
            add(DEFAULT, sw.labels_.to_numpy(), dt, refine_choice=sw.refine_choice_, **extra)
        if todo("stagewise", "stagewise + refine"):
            sw, dt, extra = stagewise(weighted="mass", refine_features="informative")
            add("stagewise", sw.labels_experts_.to_numpy(), dt, **extra)
            add("stagewise + refine", sw.labels_.to_numpy(), dt, **extra)
        if todo("stagewise + refine (all workers)"):
            sa, dt, _ = stagewise(weighted="mass", refine_features="all")
            add("stagewise + refine (all workers)", sa.labels_.to_numpy(), dt)
        if variant == "binary" and todo("unweighted stagewise + refine"):
            su, dt, extra = stagewise(weighted=False, refine_features="informative")
            add("unweighted stagewise + refine", su.labels_.to_numpy(), dt, **extra)
    return rows


def _drop_stagewise_rows(variants: list[str]) -> None:
    """Remove the stagewise methods' rows of ``variants`` from the CSV and the choices file
    (rewritten through a temporary file, then renamed)."""
    for path, has_method in ((CSV, True), (CHOICES, False)):
        if not path.exists():
            continue
        old = pd.read_csv(path)
        stale = old["variant"].isin(variants)
        if has_method:
            stale &= old["method"].isin(STAGEWISE_METHODS)
        tmp = path.with_suffix(".tmp")
        old[~stale].to_csv(tmp, index=False)
        tmp.replace(path)
        print(f"{path.name}: dropped {int(stale.sum())} stale stagewise rows", flush=True)


def run(variants: list[str], repeats: int, recompute: bool = False) -> None:
    CSV.parent.mkdir(parents=True, exist_ok=True)
    if recompute:
        _drop_stagewise_rows(variants)
    done: dict[tuple, set] = {}
    if CSV.exists():
        old = pd.read_csv(CSV)
        for key, g in old.groupby(["variant", "n_experts", "repeat"]):
            done[key] = set(g["method"])
    for variant in variants:
        for n_experts in LEVELS:
            for repeat in range(repeats):
                have = frozenset(done.get((variant, n_experts, repeat), ()))
                rows = one_dataset(variant, n_experts, repeat, have)
                if not rows:
                    continue
                choices = [r.pop("refine_choice") for r in rows if "refine_choice" in r]
                if choices:  # which E-step set the default's held-out rule chose
                    pd.DataFrame([dict(variant=variant, n_experts=n_experts, repeat=repeat,
                                       refine_choice=choices[0])]).to_csv(
                        CHOICES, mode="a", header=not CHOICES.exists(), index=False)
                frame = pd.DataFrame(rows)
                if CSV.exists():  # the file's column order
                    frame = frame.reindex(columns=pd.read_csv(CSV, nrows=0).columns)
                frame.to_csv(CSV, mode="a", header=not CSV.exists(), index=False)
                summary = {r["method"]: round(r["error"], 1) for r in rows}
                print(variant, n_experts, repeat, summary, flush=True)


def report() -> str:
    df = pd.read_csv(CSV)
    lines = []
    for variant in [v for v in VARIANTS if v in set(df["variant"])]:
        sub = df[df["variant"] == variant]
        methods = [m for m in METHOD_ORDER if m in set(sub["method"])]
        reps = sub.groupby("n_experts")["repeat"].nunique()
        lines.append(f"\n### {variant}: error rate (%), mean ± sd [min-max] over repeats\n")
        lines.append("| experts (of 100) | repeats | " + " | ".join(TITLES.get(m, m) for m in methods) + " |")
        lines.append("|---|---|" + "---|" * len(methods))
        for level in LEVELS:
            cell = sub[sub["n_experts"] == level]
            if cell.empty:
                continue
            out = []
            for m in methods:
                e = cell.loc[cell["method"] == m, "error"]
                out.append(f"{e.mean():.1f} ± {e.std(ddof=1) if len(e) > 1 else 0:.1f} [{e.min():.1f}-{e.max():.1f}]")
            lines.append(f"| {level} | {reps[level]} | " + " | ".join(out) + " |")
        sw = sub[sub["method"] == "stagewise + refine"]
        if "experts_found" in sw:
            lines.append("\nStagewise: true experts found / expert-set size / stages (mean): " + ", ".join(
                f"{lvl}: {g['experts_found'].mean():.1f}/{g['expert_set'].mean():.1f}/{g['stages'].mean():.1f}"
                for lvl, g in sw.groupby("n_experts", sort=False)))
        if CHOICES.exists():
            ch = pd.read_csv(CHOICES)
            ch = ch[ch["variant"] == variant].drop_duplicates(["n_experts", "repeat"])
            if len(ch):
                counts = ch.groupby("n_experts")["refine_choice"].value_counts().unstack(fill_value=0)
                lines.append("\nRefinement E-step set chosen by the default's held-out rule "
                             "(repeats): " + "; ".join(
                                 f"{lvl}: " + ", ".join(f"{c} {int(counts.loc[lvl, c])}"
                                                        for c in counts.columns if counts.loc[lvl, c])
                                 for lvl in LEVELS if lvl in counts.index))
        wide = sub.pivot_table(index=["n_experts", "repeat"], columns="method", values="error")
        for m in (DEFAULT, "stagewise + refine"):
            if not {m, "MV-initialised EM", "oracle"} <= set(wide.columns):
                continue
            title = TITLES.get(m, m)
            gap = (wide[m] - wide["oracle"]).groupby("n_experts").mean()
            vs_em = (wide[m] - wide["MV-initialised EM"]).groupby("n_experts").mean()
            lines.append(f"\nMean gap of {title} to the oracle (points): " + ", ".join(
                f"{lvl}: {gap[lvl]:+.1f}" for lvl in LEVELS if lvl in gap.index))
            lines.append(f"\nMean difference {title} minus MV-initialised EM (points): " + ", ".join(
                f"{lvl}: {vs_em[lvl]:+.1f}" for lvl in LEVELS if lvl in vs_em.index))
    text = "\n".join(lines) + "\n"
    MD.write_text(text)
    _figure(df)
    return text


def _figure(df: pd.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = [v for v in VARIANTS if v in set(df["variant"])]
    fig, axes = plt.subplots(1, len(variants), figsize=(5 * len(variants), 4), squeeze=False)
    titles = {"binary": "K = 2", "k5": "K = 5", "missing70": "K = 2, 70% missing"}
    for ax, variant in zip(axes[0], variants, strict=True):
        sub = df[df["variant"] == variant]
        for m in [m for m in METHOD_ORDER if m in set(sub["method"])]:
            g = sub[sub["method"] == m].groupby("n_experts")["error"]
            mean, sd = g.mean(), g.std(ddof=1).fillna(0)
            x = np.array(mean.index) / 100 * 100
            ax.errorbar(x, mean.values, yerr=sd.values, marker="o", capsize=3, label=TITLES.get(m, m),
                        color=f"C{METHOD_ORDER.index(m) % 10}",  # one colour per method in every panel
                        linestyle="--" if m == "oracle" else "-")
        ax.set_xlabel("experts among 100 workers (%)")
        ax.set_ylabel("error rate (%)")
        ax.set_title(f"sparse experts, {titles.get(variant, variant)}")
        ax.invert_xaxis()
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    FIG.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIG, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    r.add_argument("--repeats", type=int, default=10)
    r.add_argument("--recompute", action="store_true",
                   help="drop and recompute the stagewise methods' rows of these variants")
    sub.add_parser("report")
    args = parser.parse_args()
    if args.cmd == "run":
        run(args.variants, args.repeats, args.recompute)
    print(report())


if __name__ == "__main__":
    main()
