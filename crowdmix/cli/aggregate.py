"""``crowdmix aggregate``: turn a file of crowd answers into one label per task."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from ..answers import CrowdAnswers
from ..exceptions import InputError
from ..io import check_output_path, write_table_atomic

__all__ = ["add_parser", "run", "METHODS", "label_table", "worker_table"]


def _mv(args: argparse.Namespace) -> Any:
    from ..majority_vote import MajorityVote

    return MajorityVote(tie_break="random" if args.seed is not None else "first", random_state=args.seed)


def _ds(confusion: str) -> Callable[[argparse.Namespace], Any]:
    def make(args: argparse.Namespace) -> Any:
        from ..dawid_skene import DawidSkene

        kwargs: dict[str, Any] = {"confusion": confusion, "random_state": args.seed}
        for name in ("max_iter", "tol", "smoothing"):
            if getattr(args, name) is not None:
                kwargs[name] = getattr(args, name)
        if getattr(args, "experts", None) is not None:
            kwargs["experts"] = parse_experts(args.experts)
        if getattr(args, "init", None) is not None:
            kwargs["init"] = args.init
        return DawidSkene(verbose=int(args.progress), **kwargs)

    return make


def parse_experts(value: str) -> Any:
    """``--experts``: "auto", a number of experts N, or a share of the workers in (0, 1)."""
    text = value.strip()
    if text == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        share = float(text)
    except ValueError:
        raise InputError(f"--experts must be 'auto', a number N or a share like 0.2, got {value!r}") from None
    if not 0.0 < share <= 1.0:
        raise InputError(f"--experts share must lie in (0, 1], got {value!r}")
    return share


def _weighted(module: str, cls_name: str) -> Callable[[argparse.Namespace], Any]:
    """Factory for the other aggregators: passes the options the estimator accepts
    (``--seed``, default 0 so that runs repeat; ``--max-iter``; ``--tol``)."""

    def make(args: argparse.Namespace) -> Any:
        import importlib

        cls = getattr(importlib.import_module(f"crowdmix.{module}"), cls_name)
        params = cls().get_params()
        kwargs: dict[str, Any] = {}
        if "random_state" in params:
            kwargs["random_state"] = 0 if args.seed is None else args.seed
        if "tie_break" in params and args.seed is not None:
            kwargs["tie_break"] = "random"
        for name in ("max_iter", "tol"):
            if name in params and getattr(args, name, None) is not None:
                kwargs[name] = getattr(args, name)
        return cls(**kwargs)

    return make


#: method name on the command line -> factory building the estimator from the parsed arguments
METHODS: dict[str, Callable[[argparse.Namespace], Any]] = {
    "mv": _mv,
    "ds": _ds("full"),
    "diagonal": _ds("diagonal"),
    "one-coin": _ds("one_coin"),
    "wawa": _weighted("wawa", "Wawa"),
    "zbs": _weighted("wawa", "ZeroBasedSkill"),
    "kos": _weighted("kos", "KOS"),
    "mmsr": _weighted("mmsr", "MMSR"),
    "glad": _weighted("glad", "GLAD"),
    "mace": _weighted("mace", "MACE"),
    "stagewise": _weighted("stagewise", "StagewiseEM"),
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "aggregate",
        help="aggregate crowd answers into one label per task",
        description=(
            "Read crowd answers (one row per answer: task, worker, label; CSV, TSV or Parquet), "
            "fit an aggregation model and write task,label,confidence."
        ),
    )
    p.add_argument("input", help="answers file (.csv, .tsv or .parquet) in long format")
    p.add_argument("-o", "--output", required=True, help="where to write task,label,confidence")
    p.add_argument("--method", default="ds", choices=sorted(METHODS), help="aggregation method (default: ds)")
    p.add_argument("--task-col", default="task", help="name of the task column (default: task)")
    p.add_argument("--worker-col", default="worker", help="name of the worker column (default: worker)")
    p.add_argument("--label-col", default="label", help="name of the label column (default: label)")
    p.add_argument("--sep", default=None, help="field separator (default: from the extension)")
    p.add_argument("--classes", default=None,
                   help="comma-separated class labels, in order (default: the labels seen)")
    p.add_argument("--duplicates", default="error", choices=["error", "first", "last"],
                   help="several answers by one worker to one task: fail, keep first or keep last")
    p.add_argument("--proba", action="store_true", help="add one probability column per class")
    p.add_argument("--workers", default=None, metavar="OUTPUT2", help="also write a per-worker report here")
    p.add_argument("--max-iter", type=int, default=None, help="maximum EM iterations")
    p.add_argument("--tol", type=float, default=None, help="EM convergence tolerance (per task)")
    p.add_argument("--smoothing", type=float, default=None, help="Dirichlet pseudo-count")
    p.add_argument("--seed", type=int, default=None, help="random seed (random tie-breaks and starts)")
    p.add_argument("--init", default=None, choices=["majority", "spectral", "stagewise", "random"],
                   help="Dawid-Skene methods: initialisation (default: majority; spectral is "
                        "Zhang et al.'s Opt-D&S, seeded by --seed)")
    p.add_argument("--experts", default=None, metavar="auto|N|SHARE",
                   help="Dawid-Skene methods: E-step on the top workers by pairwise mutual "
                        "information: 'auto' (N chosen without truth), a number N or a share")
    p.add_argument("--progress", action="store_true", default=None,
                   help="report EM progress on stderr (default: on for inputs over 1M answers)")
    p.set_defaults(func=run)


def label_table(estimator: Any, proba: bool) -> pd.DataFrame:
    """The output table: task, label, confidence (and p_<class> columns)."""
    probs = estimator.proba_
    out = pd.DataFrame({
        "task": estimator.labels_.index,
        "label": estimator.labels_.to_numpy(),
        "confidence": probs.to_numpy().max(axis=1),
    })
    if proba:
        for name in probs.columns:
            out[f"p_{name}"] = probs[name].to_numpy()
    return out


def worker_table(estimator: Any, answers: CrowdAnswers) -> pd.DataFrame:
    """Per-worker report: number of answers and the reliability estimates the method has."""
    if hasattr(estimator, "worker_summary_"):
        table = estimator.worker_summary_.copy()
    else:
        table = pd.DataFrame(
            {"n_answers": answers.answers_per_worker},
            index=pd.Index(answers.workers, name="worker"),
        )
        if hasattr(estimator, "skills_"):
            table["skill"] = estimator.skills_.reindex(table.index).to_numpy()
    table.index.name = "worker"
    return table.reset_index()


def run(args: argparse.Namespace) -> int:
    check_output_path(args.output, [args.input])
    if args.workers is not None:
        check_output_path(args.workers, [args.input])
        if args.workers == args.output:
            raise InputError("--workers and --output name the same file; give two paths")
    if getattr(args, "experts", None) is not None and args.method not in ("ds", "diagonal", "one-coin"):
        raise InputError(f"--experts applies to the Dawid-Skene methods (ds, diagonal, one-coin), not {args.method}")
    if getattr(args, "experts", None) is not None:
        parse_experts(args.experts)  # fail on a bad value before reading the input
    classes = None if args.classes is None else [c.strip() for c in args.classes.split(",")]
    started = time.perf_counter()
    answers = CrowdAnswers.read(
        args.input, task_col=args.task_col, worker_col=args.worker_col, label_col=args.label_col,
        classes=classes, duplicates=args.duplicates, sep=args.sep,
    )
    if args.progress is None:
        args.progress = answers.n_answers > 1_000_000
    if args.progress:
        print(
            f"crowdmix aggregate: {answers.n_answers:,} answers, {answers.n_tasks:,} tasks, "
            f"{answers.n_workers:,} workers, {answers.n_classes} classes "
            f"(read in {time.perf_counter() - started:.1f} s)",
            file=sys.stderr,
        )
    estimator = METHODS[args.method](args)
    estimator.fit(answers)
    write_table_atomic(label_table(estimator, args.proba), args.output)
    if args.workers is not None:
        write_table_atomic(worker_table(estimator, answers), args.workers)
    if args.progress:
        print(f"crowdmix aggregate: done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


