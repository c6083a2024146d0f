"""Crowd answers, encoded once.

Every estimator in crowdmix works on one internal representation of crowd answers,
:class:`CrowdAnswers`: three flat integer arrays (task code, worker code, label code) sorted by
task and then worker, with ``offsets`` such that the answers of task ``t`` are the slice
``offsets[t]:offsets[t + 1]``. The encoders (``tasks``, ``workers``, ``classes``, each a
:class:`pandas.Index`) map codes back to the user's own values, so every result can be keyed by
the user's task, worker and label values (strings, ints, bools, anything hashable).

Build one with :func:`as_answers` (accepts everything below), or explicitly with
:meth:`CrowdAnswers.from_long` (crowd-kit's long format), :meth:`CrowdAnswers.from_dense`
(task x worker matrix with missing entries), :meth:`CrowdAnswers.from_arrays` or
:meth:`CrowdAnswers.read` (CSV, TSV, Parquet).
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from .exceptions import InputError
from .kernels.encoding import sort_by_task_worker

__all__ = ["CrowdAnswers", "as_answers", "encode_for_workers", "read_answers"]

Duplicates = Literal["error", "first", "last"]
_DUPLICATE_CHOICES = ("error", "first", "last")


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _describe(value: Any) -> str:
    return repr(_scalar(value))


def _factorize(values: pd.Series | np.ndarray) -> tuple[np.ndarray, pd.Index]:
    """Codes and uniques, uniques sorted when the values are mutually comparable."""
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # mixed types that cannot be ordered: keep order of appearance
        codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.int32, copy=False), pd.Index(uniques)


def _check_column(values: Any, name: str, where: str) -> pd.Series:
    """A 1-D column without missing or unhashable values, as a Series."""
    if isinstance(values, pd.DataFrame):
        raise InputError(
            f"{where} {name!r} is not one column but {values.shape[1]} "
            f"(duplicated column name?); rename the columns so each name is unique"
        )
    arr = values if isinstance(values, pd.Series) else np.asarray(values, dtype=object)
    if getattr(arr, "ndim", 1) != 1:
        raise InputError(
            f"{where} {name!r} must be one-dimensional, got shape {np.shape(values)}; "
            f"flatten it or pass one value per answer"
        )
    series = arr if isinstance(arr, pd.Series) else pd.Series(arr)
    series = series.reset_index(drop=True)
    missing = series.isna().to_numpy()
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        raise InputError(
            f"{where} {name!r} has {int(missing.sum())} missing value(s) (first at row {first}); "
            f"drop those rows or fill them in"
        )
    if series.dtype == object:
        for pos, value in enumerate(series.to_numpy()):
            if not isinstance(value, Hashable) or isinstance(value, np.ndarray):
                raise InputError(
                    f"{where} {name!r} holds an unhashable value {value!r} at row {pos}; "
                    f"IDs and labels must be scalars (str, int, bool, ...)"
                )
            if pos > 1000:  # unhashables are systematic; a sample suffices to catch them
                break
    return series


@dataclass(frozen=True, eq=False)
class CrowdAnswers:
    """Crowd answers encoded as flat integer arrays sorted by task.

    Parameters
    ----------
    task, worker, label : ndarray of int32, shape (n_answers,)
        Codes of the task, worker and label of each answer, sorted by task then worker.
    offsets : ndarray of int64, shape (n_tasks + 1,)
        The answers of task ``t`` are rows ``offsets[t]:offsets[t + 1]``.
    tasks, workers, classes : pandas.Index
        The user's task IDs, worker IDs and class labels; code ``c`` stands for ``tasks[c]`` etc.

    Examples
    --------
    >>> import pandas as pd
    >>> from crowdmix import CrowdAnswers
    >>> df = pd.DataFrame({"task": ["a", "a", "b"], "worker": [1, 2, 1], "label": ["x", "y", "y"]})
    >>> ans = CrowdAnswers.from_long(df)
    >>> ans.n_tasks, ans.n_workers, list(ans.classes)
    (2, 2, ['x', 'y'])
    """

    task: np.ndarray
    worker: np.ndarray
    label: np.ndarray
    offsets: np.ndarray
    tasks: pd.Index
    workers: pd.Index
    classes: pd.Index

    # ------------------------------------------------------------------ sizes
    @property
    def n_answers(self) -> int:
        return int(self.task.shape[0])

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    @property
    def n_workers(self) -> int:
        return len(self.workers)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return (
            f"CrowdAnswers(n_answers={self.n_answers}, n_tasks={self.n_tasks}, "
            f"n_workers={self.n_workers}, classes={list(self.classes)!r})"
        )

    # ------------------------------------------------------------ derived arrays
    @cached_property
    def value_codes(self) -> np.ndarray:
        """Code of (worker, label) as ``worker * n_classes + label``: the row of a parameter table.

        int32 when the table has fewer than 2**31 rows (half the memory traffic of int64)."""
        dtype = np.int32 if self.n_workers * self.n_classes < 2**31 else np.int64
        return self.worker.astype(dtype) * dtype(self.n_classes) + self.label.astype(dtype)

    @cached_property
    def vote_counts(self) -> np.ndarray:
        """Votes per task and class, shape (n_tasks, n_classes), float64."""
        k = self.n_classes
        flat = np.bincount(self.task.astype(np.int64) * k + self.label, minlength=self.n_tasks * k)
        return flat.reshape(self.n_tasks, k).astype(np.float64)

    @cached_property
    def answers_per_worker(self) -> np.ndarray:
        """Number of answers of each worker, shape (n_workers,)."""
        return np.bincount(self.worker, minlength=self.n_workers)

    @cached_property
    def answers_per_task(self) -> np.ndarray:
        """Number of answers of each task, shape (n_tasks,)."""
        return np.diff(self.offsets)

    def to_frame(self) -> pd.DataFrame:
        """The answers in crowd-kit's long format, with the user's own values."""
        return pd.DataFrame(
            {
                "task": self.tasks.take(self.task),
                "worker": self.workers.take(self.worker),
                "label": self.classes.take(self.label),
            }
        )

    def subset_workers(self, worker_codes: Sequence[int] | np.ndarray) -> CrowdAnswers:
        """The answers of the given workers only; task, worker and class encoders are kept."""
        keep = np.zeros(self.n_workers, dtype=bool)
        keep[np.asarray(worker_codes, dtype=np.int64)] = True
        rows = keep[self.worker]
        task = self.task[rows]
        offsets = np.zeros(self.n_tasks + 1, dtype=np.int64)
        np.cumsum(np.bincount(task, minlength=self.n_tasks), out=offsets[1:])
        return CrowdAnswers(
            task, self.worker[rows], self.label[rows], offsets, self.tasks, self.workers, self.classes
        )

    # ------------------------------------------------------------ constructors
    @classmethod
    def from_codes(
        cls,
        task: np.ndarray,
        worker: np.ndarray,
        label: np.ndarray,
        tasks: pd.Index,
        workers: pd.Index,
        classes: pd.Index,
        *,
        duplicates: Duplicates = "error",
        row_names: Any = None,
    ) -> CrowdAnswers:
        """Sort, de-duplicate and index already-encoded answers (codes index the encoders)."""
        if duplicates not in _DUPLICATE_CHOICES:
            raise InputError(f"duplicates must be one of {_DUPLICATE_CHOICES}, got {duplicates!r}")
        task = np.asarray(task, dtype=np.int32)
        worker = np.asarray(worker, dtype=np.int32)
        label = np.asarray(label, dtype=np.int32)
        # stable: equal (task, worker) pairs keep their input order (reference: np.lexsort)
        order = sort_by_task_worker(task, worker, len(tasks), len(workers))
        task, worker, label = task[order], worker[order], label[order]
        same = (task[1:] == task[:-1]) & (worker[1:] == worker[:-1])
        if same.any():
            if duplicates == "error":
                i = int(np.flatnonzero(same)[0])
                rows = sorted((int(order[i]), int(order[i + 1])))
                if row_names is not None:
                    rows = [row_names[r] for r in rows]
                raise InputError(
                    f"duplicate answer: worker {_describe(workers[worker[i]])} answered task "
                    f"{_describe(tasks[task[i]])} more than once (rows {rows[0]} and {rows[1]}); "
                    f"remove duplicates or pass duplicates='first' or duplicates='last'"
                )
            keep = np.ones(task.shape[0], dtype=bool)
            if duplicates == "first":
                keep[1:] = ~same
            else:
                keep[:-1] = ~same
            task, worker, label = task[keep], worker[keep], label[keep]
        offsets = np.zeros(len(tasks) + 1, dtype=np.int64)
        np.cumsum(np.bincount(task, minlength=len(tasks)), out=offsets[1:])
        return cls(task, worker, label, offsets, pd.Index(tasks), pd.Index(workers), pd.Index(classes))

    @classmethod
    def from_arrays(
        cls,
        tasks: Any,
        workers: Any,
        labels: Any,
        *,
        classes: Sequence[Hashable] | None = None,
        duplicates: Duplicates = "error",
        _names: tuple[str, str, str] = ("task", "worker", "label"),
        _where: str = "column",
        _row_names: Any = None,
    ) -> CrowdAnswers:
        """Encode three equally long 1-D sequences of task IDs, worker IDs and labels."""
        t = _check_column(tasks, _names[0], _where)
        w = _check_column(workers, _names[1], _where)
        y = _check_column(labels, _names[2], _where)
        if not (len(t) == len(w) == len(y)):
            raise InputError(
                f"task, worker and label must have the same length, got {len(t)}, {len(w)}, {len(y)}"
            )
        if len(t) == 0:
            raise InputError("no answers: the input has no rows; pass at least one answer")
        t_codes, task_index = _factorize(t)
        w_codes, worker_index = _factorize(w)
        if classes is not None:
            class_index = _class_index(classes)
            y_codes = class_index.get_indexer(y)
            bad = y_codes < 0
            if bad.any():
                first = int(np.flatnonzero(bad)[0])
                row = first if _row_names is None else _row_names[first]
                unknown = pd.unique(y[bad])[:5]
                raise InputError(
                    f"{_where} {_names[2]!r} holds label(s) {[_scalar(u) for u in unknown]} not in "
                    f"the given classes {list(class_index)!r} (first at row {row}); "
                    f"add them to classes or fix the labels"
                )
            y_codes = y_codes.astype(np.int32)
        else:
            y_codes, class_index = _factorize(y)
            if len(class_index) < 2:
                raise InputError(
                    f"only one distinct label ({_describe(class_index[0])}) in {_where} "
                    f"{_names[2]!r}: aggregation needs at least two classes; pass "
                    f"classes=[...] to name the classes nobody chose"
                )
        return cls.from_codes(
            t_codes, w_codes, y_codes, task_index, worker_index, class_index,
            duplicates=duplicates, row_names=_row_names,
        )

    @classmethod
    def from_long(
        cls,
        frame: pd.DataFrame,
        *,
        task_col: str = "task",
        worker_col: str = "worker",
        label_col: str = "label",
        classes: Sequence[Hashable] | None = None,
        duplicates: Duplicates = "error",
        _row_names: Any = None,
    ) -> CrowdAnswers:
        """Encode a long DataFrame with one row per answer (crowd-kit's format).

        Parameters
        ----------
        frame : DataFrame
            One row per answer, with the task, worker and label columns named below.
        task_col, worker_col, label_col : str
            Column names.
        classes : sequence, optional
            The class set in its order. Labels outside it are an error; classes nobody chose
            still exist. By default the distinct labels, sorted when comparable.
        duplicates : {"error", "first", "last"}
            What to do with several answers of one worker to one task.
        """
        if not isinstance(frame, pd.DataFrame):
            raise InputError(f"expected a pandas DataFrame, got {type(frame).__name__}")
        names = (task_col, worker_col, label_col)
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise InputError(
                f"missing column(s) {missing}; the columns are {list(frame.columns)!r}. "
                f"Rename them or pass task_col=, worker_col=, label_col="
            )
        if len(frame) == 0:
            raise InputError("no answers: the input has no rows; pass at least one answer")
        return cls.from_arrays(
            frame[task_col], frame[worker_col], frame[label_col], classes=classes,
            duplicates=duplicates, _names=names, _where="column", _row_names=_row_names,
        )

    @classmethod
    def from_dense(
        cls,
        matrix: pd.DataFrame | np.ndarray | Sequence[Sequence[Any]],
        *,
        classes: Sequence[Hashable] | None = None,
        tasks: Sequence[Hashable] | None = None,
        workers: Sequence[Hashable] | None = None,
    ) -> CrowdAnswers:
        """Encode a dense task x worker matrix whose missing entries (NaN, None, pd.NA) mean "no answer".

        A DataFrame's index gives the task IDs and its columns the worker IDs; for an array they
        are ``0..n-1`` unless ``tasks``/``workers`` are given. A float array whose answers are all
        whole numbers (as NaN forces) has its labels converted to ``int``.
        """
        if isinstance(matrix, pd.DataFrame):
            frame = matrix
            if tasks is not None or workers is not None:
                frame = frame.copy()
                if tasks is not None:
                    frame.index = pd.Index(tasks)
                if workers is not None:
                    frame.columns = pd.Index(workers)
        else:
            arr = np.asarray(matrix, dtype=object if not isinstance(matrix, np.ndarray) else None)
            if arr.ndim != 2:
                raise InputError(
                    f"a dense answer matrix must be 2-D (tasks x workers), got shape {arr.shape}"
                )
            frame = pd.DataFrame(
                arr,
                index=pd.RangeIndex(arr.shape[0]) if tasks is None else pd.Index(tasks),
                columns=pd.RangeIndex(arr.shape[1]) if workers is None else pd.Index(workers),
            )
        if frame.shape[0] == 0 or frame.shape[1] == 0:
            raise InputError(f"no answers: the answer matrix has shape {frame.shape}")
        if frame.columns.has_duplicates:
            dup = frame.columns[frame.columns.duplicated()][0]
            raise InputError(f"worker column {_describe(dup)} appears twice; worker IDs must be unique")
        if frame.index.has_duplicates:
            dup = frame.index[frame.index.duplicated()][0]
            raise InputError(f"task {_describe(dup)} appears twice in the index; task IDs must be unique")
        values = frame.to_numpy(dtype=object)
        observed = ~pd.isna(frame).to_numpy()
        if not observed.any():
            raise InputError("no answers: every entry of the answer matrix is missing")
        rows, cols = np.nonzero(observed)
        labels = values[rows, cols]
        if all(isinstance(v, (float, np.floating)) for v in labels[:1000]):
            as_float = labels.astype(np.float64)
            if np.all(np.mod(as_float, 1.0) == 0.0):
                labels = as_float.astype(np.int64)
        task_index, worker_index = pd.Index(frame.index), pd.Index(frame.columns)
        if classes is not None:
            class_index = _class_index(classes)
            y_codes = class_index.get_indexer(pd.Index(labels))
            if (y_codes < 0).any():
                first = int(np.flatnonzero(y_codes < 0)[0])
                raise InputError(
                    f"entry (task {_describe(task_index[rows[first]])}, worker "
                    f"{_describe(worker_index[cols[first]])}) holds label "
                    f"{_describe(labels[first])} not in the given classes {list(class_index)!r}"
                )
        else:
            y_codes, class_index = _factorize(pd.Series(labels))
            if len(class_index) < 2:
                raise InputError(
                    f"only one distinct label ({_describe(class_index[0])}) in the answer matrix: "
                    f"aggregation needs at least two classes; pass classes=[...]"
                )
        # drop tasks that nobody answered? No: keep them, they get the prior as posterior.
        return cls.from_codes(rows, cols, y_codes, task_index, worker_index, class_index)

    @classmethod
    def read(
        cls,
        path: str | os.PathLike[str],
        *,
        task_col: str = "task",
        worker_col: str = "worker",
        label_col: str = "label",
        classes: Sequence[Hashable] | None = None,
        duplicates: Duplicates = "error",
        sep: str | None = None,
    ) -> CrowdAnswers:
        """Read answers in long format from a CSV, TSV or Parquet file.

        IDs and labels are read as strings (CSV/TSV), so ``"007"`` stays ``"007"``. The
        separator is taken from the extension (``.tsv``/``.tab``: tab) unless ``sep`` is given.
        Error messages name file line numbers (line 1 is the header).
        """
        frame = read_table(path, sep=sep)
        is_text = Path(path).suffix.lower() not in (".parquet", ".pq")
        row_names = np.arange(2, len(frame) + 2) if is_text else None
        try:
            return cls.from_long(
                frame, task_col=task_col, worker_col=worker_col, label_col=label_col,
                classes=classes, duplicates=duplicates, _row_names=row_names,
            )
        except InputError as err:
            msg = str(err).replace(" row ", " line ").replace("(rows ", "(lines ")
            raise InputError(f"{path}: {msg}") from None

    def encode_like(self, data: Any, **kwargs: Any) -> CrowdAnswers:
        """Encode new answers with this object's worker and class encoders (tasks are new).

        Raises :class:`InputError` naming workers or labels that were not seen here.
        """
        return encode_for_workers(data, self.workers, self.classes, **kwargs)


def encode_for_workers(
    data: Any, workers: pd.Index, classes: pd.Index, **kwargs: Any
) -> CrowdAnswers:
    """Encode new answers with a fitted model's worker and class encoders (tasks are new).

    Used by ``predict`` of the aggregators: worker code ``i`` and class code ``k`` mean the same
    as in the fit. Raises :class:`InputError` naming workers not seen in the fit (and, through
    :func:`as_answers`, labels outside ``classes``).
    """
    new = as_answers(data, classes=list(classes), **kwargs)
    w = pd.Index(workers).get_indexer(new.workers)
    if (w < 0).any():
        unknown = list(new.workers[w < 0][:5])
        raise InputError(
            f"{int((w < 0).sum())} worker(s) not seen during fit, e.g. {unknown}; "
            f"predict only uses known workers: drop their answers or refit"
        )
    return CrowdAnswers.from_codes(new.task, w[new.worker], new.label, new.tasks, workers, classes)


def _class_index(classes: Sequence[Hashable]) -> pd.Index:
    index = pd.Index(list(classes))
    if len(index) < 2:
        raise InputError(f"classes must name at least two classes, got {list(index)!r}")
    if index.has_duplicates:
        raise InputError(f"classes contains duplicates: {list(index[index.duplicated()])!r}")
    return index


def read_table(path: str | os.PathLike[str], *, sep: str | None = None) -> pd.DataFrame:
    """Read a CSV/TSV (all columns as strings) or Parquet file, with a clear error if it fails."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: no such file")
    if p.is_dir():
        raise InputError(f"{path}: is a directory, expected a file")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(p)
        except ImportError:
            raise InputError(
                f"{path}: reading Parquet needs pyarrow; install it with "
                f"`pip install 'crowdmix[parquet]'`"
            ) from None
    if sep is None:
        sep = "\t" if suffix in (".tsv", ".tab") else ","
    try:
        return pd.read_csv(p, sep=sep, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot parse as a table: {str(err).splitlines()[0]}") from None


def read_answers(path: str | os.PathLike[str], **kwargs: Any) -> CrowdAnswers:
    """Read answers from a file; see :meth:`CrowdAnswers.read`."""
    return CrowdAnswers.read(path, **kwargs)


def as_answers(
    data: Any,
    *,
    task_col: str = "task",
    worker_col: str = "worker",
    label_col: str = "label",
    classes: Sequence[Hashable] | None = None,
    duplicates: Duplicates = "error",
) -> CrowdAnswers:
    """Encode any supported input as :class:`CrowdAnswers`.

    Accepted inputs: a :class:`CrowdAnswers` (returned as is); a long DataFrame with the task,
    worker and label columns; any other DataFrame or a 2-D array as a dense task x worker matrix
    with missing entries; a path to a CSV/TSV/Parquet file in long format.
    """
    if isinstance(data, CrowdAnswers):
        if classes is not None and list(_class_index(classes)) != list(data.classes):
            raise InputError(
                f"the answers were encoded with classes {list(data.classes)!r}, "
                f"not {list(classes)!r}; re-encode them with the wanted classes"
            )
        return data
    if isinstance(data, (str, os.PathLike)):
        return CrowdAnswers.read(
            data, task_col=task_col, worker_col=worker_col, label_col=label_col,
            classes=classes, duplicates=duplicates,
        )
    if isinstance(data, pd.DataFrame):
        names = (task_col, worker_col, label_col)
        present = [c for c in names if c in data.columns]
        if len(present) == 3 or (present and len(data.columns) <= 4):
            return CrowdAnswers.from_long(
                data, task_col=task_col, worker_col=worker_col, label_col=label_col,
                classes=classes, duplicates=duplicates,
            )
        return CrowdAnswers.from_dense(data, classes=classes)
    if isinstance(data, (np.ndarray, list, tuple)):
        return CrowdAnswers.from_dense(data, classes=classes)
    raise InputError(
        f"cannot read answers from a {type(data).__name__}; pass a long DataFrame with "
        f"columns {task_col!r}, {worker_col!r}, {label_col!r}, a dense task x worker matrix, "
        f"or a file path"
    )
