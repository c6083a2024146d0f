"""Encoding of a samples x features matrix of categorical values for the MDPD kernels.

Clustering discretely valued data (ALGORITHMS.md §4) uses the same kernels as the crowd
estimators: samples ``s`` whose observed values are the rows ``offsets[s]:offsets[s + 1]`` of
``codes``, where the code of value ``a`` of feature ``i`` is ``layout.start[i] + a``
(:class:`crowdmix.em.FeatureLayout`). This module turns a user's matrix (numpy array, nested
lists or DataFrame; any hashable values; each column its own alphabet) into that format and
keeps, per column, the encoder that maps codes back to the user's values.

Missing values are ``NaN``, ``None``, ``pd.NA``, ``pd.NaT`` and the empty string ``""``; they
get no code, so the model marginalises them out (never a category of their own).

Behaviour on awkward input (documented and tested):

- A column with a single observed value is kept: it has an alphabet of size one, contributes
  a factor of 1 to every likelihood and no free parameter, so it cannot influence a fit.
- A column in which every value is missing raises :class:`crowdmix.InputError` naming it
  (it has no alphabet; drop it), unless its categories are given.
- A row in which every value is missing is kept: it has no code, its likelihood is 1 and its
  posterior is the mixture weights. :func:`encode_matrix` reports the count in
  ``EncodedMatrix.n_empty_rows`` so that estimators can warn.
- A value not seen when the encoder was fitted (``transform`` of new data) is handled by
  ``handle_unknown``: ``"warn"`` (default: treated as missing, with an
  :class:`UnseenCategoryWarning` naming the column and values), ``"ignore"`` (treated as missing
  silently) or ``"error"`` (raise :class:`crowdmix.InputError`). Treating it as missing means
  the new value is marginalised out, exactly as if it had not been recorded.

References
----------
Zhao, V. and Zucker, S. W. (2015). Stagewise learning for sparse clustering of
discretely-valued data. arXiv:1506.02975.

Examples
--------
>>> import pandas as pd
>>> from crowdmix.categorical import CategoricalEncoder
>>> X = pd.DataFrame({"colour": ["red", "blue", None], "size": [1, 2, 2]})
>>> enc = CategoricalEncoder().fit(X)
>>> data = enc.transform(X)
>>> data.offsets.tolist(), data.codes.tolist()
([0, 2, 4, 5], [1, 2, 0, 3, 3])
>>> [list(c) for c in enc.categories_]
[['blue', 'red'], [1, 2]]
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from .em import FeatureLayout
from .exceptions import InputError

__all__ = [
    "CategoricalEncoder",
    "EncodedMatrix",
    "UnseenCategoryWarning",
    "encode_matrix",
    "as_frame",
]

HandleUnknown = Literal["warn", "ignore", "error"]
_HANDLE_UNKNOWN = ("warn", "ignore", "error")


class UnseenCategoryWarning(UserWarning):
    """New data hold a value that was not seen when the model was fitted; it is treated as missing."""


def _describe(value: Any) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


def _plain(values: Any) -> list:
    """A few values as plain Python scalars, for messages."""
    return [v.item() if isinstance(v, np.generic) else v for v in values]


@dataclass(frozen=True, eq=False)
class EncodedMatrix:
    """A samples x features matrix in the kernels' sparse format.

    Attributes
    ----------
    offsets : int64 array (n_samples + 1,)
        The observed values of sample ``s`` are ``codes[offsets[s]:offsets[s + 1]]``.
    codes : int64 array (n_observed,)
        Value codes ``layout.start[i] + a``, sorted by sample then feature.
    layout : FeatureLayout
        Where each feature's values sit in the parameter table.
    dense : int64 array (n_samples, n_features)
        Per-column category index, ``-1`` where missing.
    """

    offsets: np.ndarray
    codes: np.ndarray
    layout: FeatureLayout
    dense: np.ndarray

    @property
    def n_samples(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_features(self) -> int:
        return self.layout.n_features

    @property
    def n_codes(self) -> int:
        return self.layout.n_codes

    @property
    def observed(self) -> np.ndarray:
        """Boolean (n_samples, n_features): True where a value is recorded."""
        return self.dense >= 0

    @property
    def n_empty_rows(self) -> int:
        """Number of samples with no observed value."""
        return int(np.count_nonzero(np.diff(self.offsets) == 0))


def _sparse_from_dense(dense: np.ndarray, layout: FeatureLayout) -> tuple[np.ndarray, np.ndarray]:
    observed = dense >= 0
    offsets = np.zeros(dense.shape[0] + 1, dtype=np.int64)
    np.cumsum(observed.sum(axis=1), out=offsets[1:])
    codes = (dense + layout.start[:-1][None, :])[observed].astype(np.int64)  # row-major order
    return offsets, codes


def as_frame(X: Any) -> pd.DataFrame:
    """A 2-D input (DataFrame, array, nested lists) as a DataFrame; arrays get columns 0..m-1."""
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, pd.Series):
        raise InputError(
            "expected a 2-D samples x features matrix, got a Series; use series.to_frame() "
            "for a single feature"
        )
    if hasattr(X, "toarray") and hasattr(X, "nnz"):
        raise InputError(
            "sparse matrices are not supported: missing entries are not zeros here; pass a "
            "dense array or DataFrame with NaN where values are missing"
        )
    arr = X if isinstance(X, np.ndarray) else np.asarray(X, dtype=object)
    if arr.ndim != 2:
        raise InputError(
            f"expected a 2-D samples x features matrix, got an array of shape {arr.shape}. "
            f"Reshape your data with X.reshape(-1, 1) if it has a single feature or "
            f"X.reshape(1, -1) if it is a single sample"
        )
    if arr.dtype.kind == "c":
        raise InputError("Complex data not supported: give categories as str, int, bool, ...")
    return pd.DataFrame(arr)


def _missing_mask(col: pd.Series) -> np.ndarray:
    missing = np.array(pd.isna(col), dtype=bool)
    if col.dtype == object or isinstance(col.dtype, pd.StringDtype):
        present = np.flatnonzero(~missing)
        values = col.to_numpy(dtype=object)[present]
        try:
            empty = np.asarray(values == "", dtype=bool).reshape(values.shape)
        except (TypeError, ValueError):  # cells that do not compare to a string: never empty
            empty = np.array([isinstance(v, str) and v == "" for v in values], dtype=bool)
        missing[present[empty]] = True
    return missing


def _observed_values(col: pd.Series, observed: np.ndarray) -> pd.Index:
    """The observed values of a column as an Index; whole floats become integers."""
    values = col.to_numpy()[observed] if not isinstance(col.dtype, pd.CategoricalDtype) else (
        col.astype(object).to_numpy()[observed]
    )
    if values.dtype.kind == "f" and len(values) and np.all(np.mod(values, 1.0) == 0.0):
        values = values.astype(np.int64)
    return values


def _numeric_block(frame: pd.DataFrame) -> np.ndarray | None:
    """The whole frame as one float array when every column is a plain numeric dtype
    (fast path: no per-column pandas objects), else None."""
    kinds = {getattr(dt, "kind", "O") for dt in frame.dtypes}
    if kinds <= {"i", "u", "f"} and all(isinstance(dt, np.dtype) for dt in frame.dtypes):
        arr = frame.to_numpy(dtype=np.float64)
        if "f" in kinds or np.all(np.abs(arr) < 2**53):
            return arr
    return None


def _column(frame: pd.DataFrame, block: np.ndarray | None, j: int) -> tuple[np.ndarray, np.ndarray]:
    """Observed mask and observed values (whole floats as integers) of column ``j``."""
    if block is not None:
        col = block[:, j]
        observed = ~np.isnan(col)
        values = col[observed]
        if np.all(np.mod(values, 1.0) == 0.0):
            values = values.astype(np.int64)
        return observed, values
    col = frame.iloc[:, j]
    observed = ~_missing_mask(col)
    return observed, _observed_values(col, observed)


def _factorize_column(values: np.ndarray, name: Any) -> tuple[np.ndarray, pd.Index]:
    try:
        try:
            codes, uniques = pd.factorize(values, sort=True)
        except TypeError:  # values that cannot be ordered among themselves
            codes, uniques = pd.factorize(values, sort=False)
    except TypeError as err:
        raise InputError(
            f"column {_describe(name)} holds unhashable values ({err}); values must be scalars "
            f"(str, int, bool, ...)"
        ) from None
    return codes.astype(np.int64), pd.Index(uniques)


def _check_categories(given: Any, names: pd.Index) -> list[pd.Index] | None:
    if given is None or (isinstance(given, str) and given == "auto"):
        return None
    if isinstance(given, str):
        raise InputError(f"categories must be 'auto', a list or a mapping, got {given!r}")
    if isinstance(given, Mapping):
        missing = [c for c in names if c not in given]
        if missing:
            raise InputError(
                f"categories has no entry for column(s) {missing[:5]}; give every column's "
                f"values or use categories='auto'"
            )
        seq = [given[c] for c in names]
    else:
        seq = list(given)
        if len(seq) != len(names):
            raise InputError(
                f"categories has {len(seq)} entries but the data have {len(names)} columns"
            )
    out = []
    for name, cats in zip(names, seq, strict=True):
        idx = pd.Index(list(cats))
        if len(idx) == 0:
            raise InputError(f"categories for column {_describe(name)} is empty")
        if idx.has_duplicates:
            raise InputError(
                f"categories for column {_describe(name)} repeat a value "
                f"({_describe(idx[idx.duplicated()][0])})"
            )
        out.append(idx)
    return out


class CategoricalEncoder:
    """Per-column category encoders for a samples x features matrix.

    Parameters
    ----------
    categories : "auto", list of array-like or mapping column -> array-like, default="auto"
        Each column's alphabet. ``"auto"``: the values observed in ``fit`` (sorted when they
        can be ordered). Giving them fixes the alphabet (values never observed keep a small
        smoothed probability in a mixture fitted on it); observed values outside it raise
        :class:`crowdmix.InputError`.
    handle_unknown : {"warn", "ignore", "error"}, default="warn"
        What ``transform`` does with a value outside a column's alphabet: treat it as missing
        with an :class:`UnseenCategoryWarning`, treat it as missing silently, or raise
        :class:`crowdmix.InputError`.

    Attributes
    ----------
    feature_names_ : pandas.Index
        Column names (``0..m-1`` for arrays).
    categories_ : list of pandas.Index
        Alphabet of each column: code ``a`` of column ``i`` is ``categories_[i][a]``.
    layout_ : FeatureLayout
    from_frame_ : bool
        Whether ``fit`` saw a DataFrame (column names then matter at ``transform``).

    Examples
    --------
    >>> import numpy as np
    >>> from crowdmix.categorical import CategoricalEncoder
    >>> enc = CategoricalEncoder(handle_unknown="ignore").fit([["a", 1], ["b", np.nan]])
    >>> new = enc.transform([["c", 1]])        # "c" unseen: treated as missing
    >>> new.dense.tolist()
    [[-1, 0]]
    """

    def __init__(self, categories: Any = "auto", handle_unknown: HandleUnknown = "warn"):
        self.categories = categories
        self.handle_unknown = handle_unknown

    def fit(self, X: Any) -> CategoricalEncoder:
        """Learn each column's alphabet."""
        self.fit_transform(X)
        return self

    def fit_transform(self, X: Any, owner: str = "CategoricalEncoder") -> EncodedMatrix:
        """Learn each column's alphabet and encode ``X`` (``owner`` names the model in errors)."""
        if self.handle_unknown not in _HANDLE_UNKNOWN:
            raise InputError(
                f"handle_unknown must be one of {_HANDLE_UNKNOWN}, got {self.handle_unknown!r}"
            )
        frame = as_frame(X)
        n, m = frame.shape
        if n == 0:
            raise InputError(
                f"no data: found array with 0 sample(s) (shape={frame.shape}) while a minimum of "
                f"1 is required. Pass at least one sample."
            )
        if m == 0:
            raise InputError(
                f"no data: found array with 0 feature(s) (shape={frame.shape}) while a minimum "
                f"of 1 is required. Pass at least one column."
            )
        if frame.columns.has_duplicates:
            dup = frame.columns[frame.columns.duplicated()][0]
            raise InputError(f"column {_describe(dup)} appears twice; column names must be unique")
        given = _check_categories(self.categories, frame.columns)
        dense = np.empty((n, m), dtype=np.int64)
        cats: list[pd.Index] = []
        block = _numeric_block(frame)
        for j, name in enumerate(frame.columns):
            observed, values = _column(frame, block, j)
            if not observed.any() and given is None:
                raise InputError(
                    f"column {_describe(name)} has no observed value (all {n} entries missing); "
                    f"drop it: it carries no information"
                )
            if given is None:
                codes, uniques = _factorize_column(values, name)
            else:
                uniques = given[j]
                codes = uniques.get_indexer(pd.Index(values)).astype(np.int64)
                if (codes < 0).any():
                    bad = pd.unique(values[codes < 0])[:5]
                    raise InputError(
                        f"column {_describe(name)} holds value(s) {_plain(bad)} outside the given "
                        f"categories {_plain(uniques[:10])}; add them to categories"
                    )
            dense[:, j] = -1
            dense[observed, j] = codes
            cats.append(uniques)
        self.feature_names_ = pd.Index(frame.columns)
        self.categories_ = cats
        self.layout_ = FeatureLayout.from_sizes(np.array([len(c) for c in cats], dtype=np.int64))
        self.from_frame_ = isinstance(X, pd.DataFrame)
        self.owner_ = owner
        offsets, codes = _sparse_from_dense(dense, self.layout_)
        return EncodedMatrix(offsets, codes, self.layout_, dense)

    def _check_fitted(self) -> None:
        if not hasattr(self, "categories_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this CategoricalEncoder is not fitted yet; call fit first")

    def _align(self, X: Any) -> pd.DataFrame:
        frame = as_frame(X)
        m = len(self.feature_names_)
        if isinstance(X, pd.DataFrame) and self.from_frame_:
            absent = self.feature_names_.difference(frame.columns)
            if len(absent):
                raise InputError(
                    f"the data lack column(s) {list(absent[:5])} seen during fit; pass the same "
                    f"columns (extra columns are ignored)"
                )
            if frame.columns.has_duplicates:
                dup = frame.columns[frame.columns.duplicated()][0]
                raise InputError(f"column {_describe(dup)} appears twice; column names must be unique")
            return frame.loc[:, self.feature_names_]
        if frame.shape[1] != m:
            raise InputError(
                f"X has {frame.shape[1]} features, but {self.owner_} is expecting {m} features "
                f"as input"
            )
        return frame

    def transform(self, X: Any, handle_unknown: HandleUnknown | None = None) -> EncodedMatrix:
        """Encode new data with the fitted alphabets.

        A DataFrame is matched to the fitted columns by name (order and extra columns do not
        matter) when the encoder was fitted on a DataFrame; otherwise by position.
        ``handle_unknown`` overrides the encoder's setting for this call.
        """
        self._check_fitted()
        handle_unknown = self.handle_unknown if handle_unknown is None else handle_unknown
        if handle_unknown not in _HANDLE_UNKNOWN:
            raise InputError(
                f"handle_unknown must be one of {_HANDLE_UNKNOWN}, got {handle_unknown!r}"
            )
        frame = self._align(X)
        n, m = frame.shape
        dense = np.full((n, m), -1, dtype=np.int64)
        unseen: dict[Any, list[Any]] = {}
        n_unseen = 0
        block = _numeric_block(frame)
        for j, name in enumerate(self.feature_names_):
            observed, values = _column(frame, block, j)
            try:
                codes = self.categories_[j].get_indexer(pd.Index(values))
            except TypeError as err:
                raise InputError(
                    f"column {_describe(name)} holds unhashable values ({err}); values must be "
                    f"scalars"
                ) from None
            bad = codes < 0
            if bad.any():
                n_unseen += int(bad.sum())
                unseen[name] = _plain(pd.unique(values[bad])[:5])
            dense[observed, j] = codes
        if unseen:
            detail = "; ".join(f"column {_describe(k)}: {v}" for k, v in list(unseen.items())[:5])
            if handle_unknown == "error":
                raise InputError(
                    f"{n_unseen} value(s) not seen during fit ({detail}); refit with these "
                    f"categories, or use handle_unknown='warn' to treat them as missing"
                )
            if handle_unknown == "warn":
                warnings.warn(
                    f"{n_unseen} value(s) not seen during fit are treated as missing "
                    f"(marginalised out): {detail}",
                    UnseenCategoryWarning,
                    stacklevel=3,
                )
        offsets, codes = _sparse_from_dense(dense, self.layout_)
        return EncodedMatrix(offsets, codes, self.layout_, dense)

    def decode(self, dense: np.ndarray) -> pd.DataFrame:
        """Category indices (``-1`` = missing) back to a DataFrame of the user's values."""
        self._check_fitted()
        dense = np.asarray(dense)
        cols = {}
        for j, cats in enumerate(self.categories_):
            col = cats.take(np.maximum(dense[:, j], 0)).to_numpy()
            if (dense[:, j] < 0).any():
                col = col.astype(object)
                col[dense[:, j] < 0] = None
            cols[j] = col
        out = pd.DataFrame(cols)
        out.columns = self.feature_names_
        return out

    def feature_indices(self, features: Sequence[Hashable] | np.ndarray) -> np.ndarray:
        """Positions of the given columns (names, or integer positions for unnamed arrays;
        a boolean mask of length n_features is accepted too)."""
        self._check_fitted()
        feats = np.asarray(features) if not isinstance(features, pd.Index) else features.to_numpy()
        m = len(self.feature_names_)
        if feats.dtype == bool:
            if feats.shape != (m,):
                raise InputError(f"a boolean feature mask must have length {m}, got {feats.shape}")
            return np.flatnonzero(feats)
        pos = self.feature_names_.get_indexer(pd.Index(list(feats)))
        if (pos < 0).any() and not self.from_frame_ and feats.dtype.kind in "iu":
            pos = feats.astype(np.int64)
            pos = np.where((pos >= 0) & (pos < m), pos, -1)
        if (pos < 0).any():
            bad = _plain(np.asarray(list(feats), dtype=object)[pos < 0][:5])
            raise InputError(
                f"unknown feature(s) {bad}; choose among the columns {list(self.feature_names_[:10])}"
                + ("..." if m > 10 else "")
            )
        if len(np.unique(pos)) != len(pos):
            raise InputError("features names a column twice")
        return pos


def encode_matrix(
    X: Any, categories: Any = "auto"
) -> tuple[EncodedMatrix, CategoricalEncoder]:
    """Encode a samples x features matrix; returns the encoded data and the fitted encoder.

    Examples
    --------
    >>> from crowdmix.categorical import encode_matrix
    >>> data, enc = encode_matrix([[0, "x"], [1, None]])
    >>> data.layout.sizes.tolist(), data.n_empty_rows
    ([2, 1], 0)
    """
    enc = CategoricalEncoder(categories=categories)
    return enc.fit_transform(X), enc
