"""Run aggregation methods on datasets with known truth and tabulate error, time and iterations.

:func:`run_benchmark` fits every chosen method on every dataset (all answers, no truth) and
scores its labels against the truth with :func:`crowdmix.metrics.error_rate`: the truth is used
for scoring only. Datasets come in the layout of the public benchmarks (a folder holding
``labels.csv`` with ``task,worker,label`` and ``truth.csv`` with ``task,label``), as a folder of
such folders, as a (labels file, truth file) pair, or in memory. Methods are named as in
``crowdmix aggregate --method`` (:data:`crowdmix.cli.aggregate.METHODS`) or given as estimators.

The command ``crowdmix benchmark`` is a thin wrapper around this module.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from .answers import CrowdAnswers, as_answers, read_table
from .exceptions import InputError
from .metrics import error_rate

__all__ = [
    "BenchmarkDataset",
    "available_methods",
    "format_table",
    "load_benchmark_datasets",
    "make_estimator",
    "run_benchmark",
]

COLUMNS = [
    "dataset", "method", "error", "time_s", "n_iter", "n_tasks", "n_workers", "n_answers",
    "n_classes", "n_scored", "note",
]


class BenchmarkDataset:
    """Answers and truth of one dataset, with the files they came from (if any).

    Parameters
    ----------
    name : str
        Name shown in the table.
    answers : CrowdAnswers, DataFrame, array or path
        Anything :func:`crowdmix.as_answers` accepts.
    truth : Series, DataFrame or path
        True label per task: a Series indexed by task, a DataFrame or file with columns
        ``task`` and ``label``.
    """

    def __init__(self, name: str, answers: Any, truth: Any):
        self.name = str(name)
        self.paths = [p for p in (answers, truth) if isinstance(p, (str, os.PathLike))]
        self.answers: CrowdAnswers = as_answers(answers)
        self.truth: pd.Series = _truth_series(truth, self.name)

    def __repr__(self) -> str:
        return (
            f"BenchmarkDataset({self.name!r}, n_answers={self.answers.n_answers}, "
            f"n_truth={len(self.truth)})"
        )


def _truth_series(truth: Any, name: str) -> pd.Series:
    if isinstance(truth, (str, os.PathLike)):
        frame = read_table(truth)
        absent = [c for c in ("task", "label") if c not in frame.columns]
        if absent:
            raise InputError(
                f"{truth}: missing column(s) {absent}; a truth file needs columns task,label "
                f"(it has {list(frame.columns)})"
            )
        truth = frame
    if isinstance(truth, pd.DataFrame):
        absent = [c for c in ("task", "label") if c not in truth.columns]
        if absent:
            raise InputError(f"truth of {name!r} lacks column(s) {absent}; expected task, label")
        truth = pd.Series(truth["label"].to_numpy(), index=pd.Index(truth["task"].to_numpy()))
    if isinstance(truth, Mapping) and not isinstance(truth, pd.Series):
        truth = pd.Series(dict(truth))
    if not isinstance(truth, pd.Series):
        raise InputError(
            f"truth of {name!r} must be a Series indexed by task, a DataFrame or a file with "
            f"columns task,label; got {type(truth).__name__}"
        )
    truth = truth[truth.notna().to_numpy()]
    if truth.index.has_duplicates:
        dup = truth.index[truth.index.duplicated()][0]
        raise InputError(f"truth of {name!r} gives task {dup!r} more than one label")
    return truth.rename("label").rename_axis("task")


def _is_dataset_dir(path: Path) -> bool:
    return (path / "labels.csv").is_file() and (path / "truth.csv").is_file()


def load_benchmark_datasets(source: Any) -> list[BenchmarkDataset]:
    """Resolve a dataset specification into a list of :class:`BenchmarkDataset`.

    Parameters
    ----------
    source : path, (labels, truth) pair, mapping, BenchmarkDataset or a list of these
        - a folder holding ``labels.csv`` and ``truth.csv``: one dataset named after the folder;
        - a folder of such folders: every one of them, in name order;
        - a pair ``(labels, truth)`` of files (named after the labels file, or after its folder
          if the file is called ``labels.csv``) or of in-memory objects (named ``"data"``);
        - a mapping ``name -> (answers, truth)``.

    Returns
    -------
    list of BenchmarkDataset

    Examples
    --------
    >>> from crowdmix.benchmarking import load_benchmark_datasets
    >>> from crowdmix.datasets import make_crowd
    >>> crowd = make_crowd(n_tasks=50, n_workers=8, random_state=0)
    >>> [d.name for d in load_benchmark_datasets({"toy": (crowd.answers, crowd.truth)})]
    ['toy']
    """
    if isinstance(source, BenchmarkDataset):
        return [source]
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            if _is_dataset_dir(path):
                return [BenchmarkDataset(path.resolve().name, path / "labels.csv", path / "truth.csv")]
            subs = sorted(p for p in path.iterdir() if p.is_dir() and _is_dataset_dir(p))
            if not subs:
                raise InputError(
                    f"{source}: no dataset here; expected labels.csv and truth.csv in this folder "
                    f"or in its sub-folders"
                )
            return [BenchmarkDataset(p.name, p / "labels.csv", p / "truth.csv") for p in subs]
        if path.is_file():
            raise InputError(
                f"{source} is a file: give its truth too, as a (labels, truth) pair "
                f"(command line: --truth TRUTH)"
            )
        raise InputError(f"{source}: no such file or folder")
    if isinstance(source, Mapping):
        out = []
        for name, pair in source.items():
            if isinstance(pair, BenchmarkDataset):
                out.append(pair)
                continue
            if not (isinstance(pair, Sequence) and len(pair) == 2):
                raise InputError(f"dataset {name!r}: expected an (answers, truth) pair")
            out.append(BenchmarkDataset(str(name), *pair))
        return out
    if isinstance(source, tuple) and len(source) == 2 and not any(
        isinstance(s, (tuple, list, BenchmarkDataset)) for s in source
    ):
        answers, truth = source
        if isinstance(answers, (str, os.PathLike)):
            labels = Path(answers)
            if labels.is_dir():
                raise InputError(f"{answers} is a folder; pass a labels file with its truth file")
            name = (labels.resolve().parent.name if labels.name == "labels.csv" else "") or labels.stem
        else:
            name = "data"
        return [BenchmarkDataset(name, answers, truth)]
    if isinstance(source, Iterable) and not isinstance(source, (pd.DataFrame, pd.Series)):
        out = []
        for item in source:
            out.extend(load_benchmark_datasets(item))
        names = [d.name for d in out]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputError(f"several datasets are named {dup}; give them distinct names")
        return out
    raise InputError(
        f"cannot read datasets from a {type(source).__name__}; pass a folder, a (labels, truth) "
        f"pair of files or a mapping name -> (answers, truth)"
    )


# ------------------------------------------------------------------------------------- methods
def _aggregate_registry() -> dict[str, Any]:
    from .cli.aggregate import METHODS

    return METHODS


def available_methods() -> list[str]:
    """Method names accepted by :func:`run_benchmark` (those of ``crowdmix aggregate --method``)."""
    return list(_aggregate_registry())


def make_estimator(name: str, random_state: int | None = None) -> Any:
    """The estimator ``crowdmix aggregate --method NAME`` uses, with its default options.

    Parameters
    ----------
    name : str
        A method name, see :func:`available_methods`.
    random_state : int or None, default=None
        Seed passed as ``--seed`` (methods with random parts; majority votes then break ties
        at random). ``None``: the command's defaults without a seed.
    """
    from .cli.aggregate import add_parser

    registry = _aggregate_registry()
    if name not in registry:
        raise InputError(f"unknown method {name!r}; choose from {sorted(registry)}")
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["aggregate", "-", "-o", "-"])
    args.seed = random_state
    args.progress = False
    return registry[name](args)


def _resolve_methods(methods: Any, random_state: int | None) -> list[tuple[str, Any]]:
    if methods is None or (isinstance(methods, str) and methods == "all"):
        return [(n, make_estimator(n, random_state)) for n in available_methods()]
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    if isinstance(methods, Mapping):
        return [(str(k), v) for k, v in methods.items()]
    out = []
    for m in methods:
        if isinstance(m, str):
            out.append((m, make_estimator(m, random_state)))
        elif isinstance(m, tuple) and len(m) == 2:
            out.append((str(m[0]), m[1]))
        elif hasattr(m, "fit"):
            out.append((type(m).__name__, m))
        else:
            raise InputError(f"a method must be a name, an estimator or a (name, estimator) pair, got {m!r}")
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise InputError(f"methods named twice: {sorted({n for n in names if names.count(n) > 1})}")
    if not out:
        raise InputError("no methods to run; name at least one")
    return out


def _n_iter(est: Any) -> float:
    value = getattr(est, "n_iter_", None)
    return float(value) if value is not None else np.nan


def _warm_up(estimators: list[tuple[str, Any]]) -> None:
    """Fit every method once on a tiny crowd, so that numba compilation is not timed."""
    from .datasets import make_crowd

    tiny = as_answers(make_crowd(n_tasks=30, n_workers=6, n_classes=2, answers_per_task=3,
                                 random_state=0).answers)
    for _, est in estimators:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                clone(est).fit(tiny)
            except Exception:  # noqa: BLE001 - warm-up only; the real fit reports errors
                pass


def run_benchmark(
    methods: Any = "all",
    datasets: Any = None,
    *,
    repeat: int = 1,
    warm_up: bool = True,
    random_state: int | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Fit each method on each dataset and score it against the truth.

    Parameters
    ----------
    methods : "all", str, sequence or mapping, default="all"
        Method names as in ``crowdmix aggregate --method`` (a list, or a comma-separated
        string; ``"all"`` for every one), estimators, ``(name, estimator)`` pairs, or a mapping
        ``name -> estimator``. Estimators are cloned before every fit.
    datasets : path, pair, mapping or list
        See :func:`load_benchmark_datasets`. Default: the public benchmarks found by
        :func:`crowdmix.datasets.load_crowd_benchmark` (``../shared/data/crowd``).
    repeat : int, default=1
        Fit each method this many times per dataset and report the fastest time.
    warm_up : bool, default=True
        Fit each method once on a tiny crowd first, so numba compilation is not timed.
    random_state : int or None, default=None
        Seed for the methods built from names, as ``--seed`` of ``crowdmix aggregate``
        (majority votes then break ties at random). ``None``: the command's defaults
        (deterministic: ties go to the first class, randomised methods use seed 0).
    progress : bool, default=False
        Print one line per fit on stderr.

    Returns
    -------
    pandas.DataFrame
        One row per (dataset, method): ``error`` (share of scored tasks labelled wrongly),
        ``time_s`` (seconds for ``fit`` on encoded answers), ``n_iter`` (iterations, NaN for
        one-pass methods), the dataset's sizes, ``n_scored`` (tasks with a truth label and at
        least one answer) and ``note`` (why a method did not run, e.g. a binary-only method on
        multi-class data, or a convergence warning). Truth tasks nobody answered are not
        scored (``n_scored`` says how many were).

    Examples
    --------
    >>> from crowdmix.benchmarking import run_benchmark
    >>> from crowdmix.datasets import make_crowd
    >>> crowd = make_crowd(n_tasks=200, n_workers=12, n_classes=2, random_state=0)
    >>> table = run_benchmark(["mv", "wawa"], {"toy": (crowd.answers, crowd.truth)})
    >>> table[["dataset", "method"]].values.tolist()
    [['toy', 'mv'], ['toy', 'wawa']]
    >>> bool((table["error"] < 0.3).all())
    True
    """
    if not (isinstance(repeat, (int, np.integer)) and repeat >= 1):
        raise InputError(f"repeat must be a positive integer, got {repeat!r}")
    if datasets is None:
        from .datasets import list_crowd_benchmarks, load_crowd_benchmark

        found = [load_crowd_benchmark(n) for n in list_crowd_benchmarks()]
        datasets = {b.name: (b.answers, b.truth) for b in found}
    data = load_benchmark_datasets(datasets)
    estimators = _resolve_methods(methods, random_state)
    if warm_up:
        _warm_up(estimators)
    rows = []
    for ds in data:
        ans = ds.answers
        answered = ds.truth.index.isin(ans.tasks)
        truth = ds.truth[answered]
        base = {
            "dataset": ds.name, "n_tasks": ans.n_tasks, "n_workers": ans.n_workers,
            "n_answers": ans.n_answers, "n_classes": ans.n_classes, "n_scored": int(answered.sum()),
        }
        for name, template in estimators:
            row = {**base, "method": name, "error": np.nan, "time_s": np.nan, "n_iter": np.nan,
                   "note": ""}
            times: list[float] = []
            caught: list[warnings.WarningMessage] = []
            try:
                for _ in range(repeat):
                    est = clone(template)
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        start = time.perf_counter()
                        est.fit(ans)
                        times.append(time.perf_counter() - start)
            except InputError as err:
                row["note"] = f"not run: {str(err).split(';')[0]}"
            else:
                row["time_s"] = min(times)
                row["n_iter"] = _n_iter(est)
                row["error"] = error_rate(est.labels_, truth) if len(truth) else np.nan
                notes = sorted({type(w.message).__name__ for w in caught
                                if issubclass(w.category, Warning)
                                and "Convergence" in w.category.__name__})
                if notes:
                    row["note"] = "did not converge"
            rows.append(row)
            if progress:
                shown = "-" if np.isnan(row["error"]) else f"{100 * row['error']:.2f}%"
                print(f"crowdmix benchmark: {ds.name} {name}: error {shown}, "
                      f"{row['time_s']:.3f} s {row['note']}".rstrip(), file=sys.stderr)
    return pd.DataFrame(rows, columns=COLUMNS)


def format_table(table: pd.DataFrame) -> str:
    """The benchmark table as aligned text: error in percent, time in seconds."""
    shown = pd.DataFrame({
        "dataset": table["dataset"],
        "method": table["method"],
        "error %": table["error"].map(lambda x: "" if pd.isna(x) else f"{100 * x:.2f}"),
        "time s": table["time_s"].map(lambda x: "" if pd.isna(x) else f"{x:.3f}"),
        "iterations": table["n_iter"].map(lambda x: "" if pd.isna(x) else f"{int(x)}"),
        "note": table["note"].fillna(""),
    })
    if not shown["note"].astype(bool).any():
        shown = shown.drop(columns="note")
    return shown.to_string(index=False)
