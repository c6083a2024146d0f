"""Encoding of categorical matrices into the kernels' sparse format."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdmix.categorical import CategoricalEncoder, UnseenCategoryWarning, encode_matrix
from crowdmix.exceptions import InputError


def _naive_encode(frame: pd.DataFrame):
    """Cell-by-cell reference: per column, sorted distinct observed values."""
    cats, sizes = [], []
    for col in frame.columns:
        vals = [v for v in frame[col] if not (v is None or v == "" or (isinstance(v, float) and np.isnan(v)))]
        uniq = sorted(set(vals))
        cats.append(uniq)
        sizes.append(len(uniq))
    start = np.concatenate([[0], np.cumsum(sizes)])
    offsets, codes = [0], []
    for s in range(len(frame)):
        for j, col in enumerate(frame.columns):
            v = frame[col].iloc[s]
            if v is None or v == "" or (isinstance(v, float) and np.isnan(v)):
                continue
            codes.append(start[j] + cats[j].index(v))
        offsets.append(len(codes))
    return np.array(offsets), np.array(codes, dtype=np.int64), cats


def test_mixed_columns_and_missing_markers():
    X = pd.DataFrame({
        "colour": ["red", "blue", None, "", "red"],
        "size": [1.0, np.nan, 2.0, 2.0, 3.0],
        "flag": [True, False, None, True, pd.NA],
    })
    data, enc = encode_matrix(X)
    assert [list(c) for c in enc.categories_] == [["blue", "red"], [1, 2, 3], [False, True]]
    # whole floats became integers; missing markers have no code
    assert data.dense.tolist() == [[1, 0, 1], [0, -1, 0], [-1, 1, -1], [-1, 1, 1], [1, 2, -1]]
    assert data.layout.sizes.tolist() == [2, 3, 2]
    assert data.offsets.tolist() == [0, 3, 5, 6, 8, 10]
    assert data.codes.tolist() == [1, 2, 6, 0, 5, 3, 3, 6, 1, 4]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", ""])), min_size=3, max_size=3),
        min_size=1, max_size=12,
    )
)
def test_matches_naive_cell_by_cell_encoding(rows):
    frame = pd.DataFrame(rows, columns=["x", "y", "z"], dtype=object)
    observed_cols = [c for c in frame.columns if frame[c].map(lambda v: v not in (None, "")).any()]
    if len(observed_cols) < 3:
        with pytest.raises(InputError, match="no observed value"):
            encode_matrix(frame)
        return
    data, enc = encode_matrix(frame)
    offsets, codes, cats = _naive_encode(frame)
    np.testing.assert_array_equal(data.offsets, offsets)
    np.testing.assert_array_equal(data.codes, codes)
    assert [list(c) for c in enc.categories_] == cats
    # decode inverts the encoding on observed cells
    back = enc.decode(data.dense)
    obs = data.observed
    assert (back.to_numpy()[obs] == frame.to_numpy()[obs]).all()


def test_numpy_array_and_lists():
    data, enc = encode_matrix(np.array([[0, 5], [1, 5], [1, 6]]))
    assert list(enc.feature_names_) == [0, 1]
    assert data.dense.tolist() == [[0, 0], [1, 0], [1, 1]]
    data2, _ = encode_matrix([[0, 5], [1, 5], [1, 6]])
    np.testing.assert_array_equal(data.codes, data2.codes)


def test_values_of_mixed_types():
    values = ["b", 1, "b", 2.5]
    data, enc = encode_matrix(pd.DataFrame({"v": values}, dtype=object))
    cats = enc.categories_[0]
    assert sorted(map(str, cats)) == ["1", "2.5", "b"]
    assert [cats[c] for c in data.dense[:, 0]] == values


def test_constant_column_has_alphabet_of_one():
    data, enc = encode_matrix(pd.DataFrame({"a": ["x", "y", "x"], "c": ["k", "k", None]}))
    assert data.layout.sizes.tolist() == [2, 1]
    assert list(enc.categories_[1]) == ["k"]


def test_all_missing_column_is_an_error_naming_it():
    with pytest.raises(InputError, match="column 'gone' has no observed value"):
        encode_matrix(pd.DataFrame({"a": [1, 2], "gone": [None, np.nan]}))


def test_all_missing_rows_are_kept_and_counted():
    data, _ = encode_matrix(pd.DataFrame({"a": [1, None, 2], "b": ["x", "", "y"]}))
    assert data.n_samples == 3
    assert data.n_empty_rows == 1
    assert data.offsets.tolist() == [0, 2, 2, 4]


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((0, 3)), "0 sample"),
        (np.zeros((3, 0)), "0 feature"),
        (np.ones((2, 2)) * 1j, "Complex data"),
        (np.zeros(4), "2-D"),
        (pd.Series([1, 2]), "Series"),
        (pd.DataFrame([[1, 2]], columns=["a", "a"]), "appears twice"),
        (pd.DataFrame({"a": [[1], [2]]}), "unhashable"),
    ],
)
def test_bad_input(bad, match):
    with pytest.raises(InputError, match=match):
        encode_matrix(bad)


def test_sparse_input_is_refused():
    from scipy import sparse

    with pytest.raises(InputError, match="sparse"):
        encode_matrix(sparse.csr_matrix(np.eye(3)))


def test_transform_matches_columns_by_name():
    X = pd.DataFrame({"a": ["x", "y"], "b": [1, 2]})
    enc = CategoricalEncoder().fit(X)
    new = pd.DataFrame({"extra": [0], "b": [2], "a": ["x"]})
    assert enc.transform(new).dense.tolist() == [[0, 1]]
    with pytest.raises(InputError, match=r"lack column\(s\) \['b'\]"):
        enc.transform(pd.DataFrame({"a": ["x"]}))
    with pytest.raises(InputError, match="X has 1 features, but CategoricalEncoder is expecting 2"):
        enc.transform(np.array([["x"]], dtype=object))


def test_unseen_categories_warn_ignore_error():
    X = pd.DataFrame({"a": ["x", "y"], "b": [1, 2]})
    new = pd.DataFrame({"a": ["z", "x"], "b": [2, 7]})
    enc = CategoricalEncoder().fit(X)
    with pytest.warns(UnseenCategoryWarning, match=r"2 value\(s\).*'a': \['z'\].*'b': \[7\]"):
        out = enc.transform(new)
    assert out.dense.tolist() == [[-1, 1], [0, -1]]  # treated as missing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert enc.transform(new, handle_unknown="ignore").dense.tolist() == [[-1, 1], [0, -1]]
    with pytest.raises(InputError, match="not seen during fit"):
        CategoricalEncoder(handle_unknown="error").fit(X).transform(new)
    with pytest.raises(InputError, match="handle_unknown"):
        CategoricalEncoder(handle_unknown="drop").fit(X)


def test_given_categories_fix_the_alphabet():
    X = pd.DataFrame({"a": ["x", "y"], "b": [1, 1]})
    data, enc = encode_matrix(X, categories={"a": ["y", "x", "w"], "b": [0, 1]})
    assert data.layout.sizes.tolist() == [3, 2]
    assert data.dense.tolist() == [[1, 1], [0, 1]]
    with pytest.raises(InputError, match="outside the given categories"):
        encode_matrix(X, categories=[["x"], [1]])
    with pytest.raises(InputError, match="no entry for column"):
        encode_matrix(X, categories={"a": ["x", "y"]})


def test_feature_indices():
    enc = CategoricalEncoder().fit(pd.DataFrame({"a": [1], "b": [2], "c": [3]}))
    assert enc.feature_indices(["c", "a"]).tolist() == [2, 0]
    assert enc.feature_indices(np.array([False, True, True])).tolist() == [1, 2]
    with pytest.raises(InputError, match="unknown feature"):
        enc.feature_indices(["d"])
    arr_enc = CategoricalEncoder().fit(np.zeros((2, 3)))
    assert arr_enc.feature_indices([2]).tolist() == [2]
