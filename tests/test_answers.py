"""Encoding crowd answers: formats, round trips and every bad input."""

import numpy as np
import pandas as pd
import pytest

from crowdmix import CrowdAnswers, InputError, as_answers


def long_df():
    return pd.DataFrame(
        {
            "task": ["t2", "t1", "t1", "t2", "t3"],
            "worker": ["b", "a", "b", "a", "a"],
            "label": ["no", "yes", "no", "no", "yes"],
        }
    )


def test_long_format_is_sorted_by_task_with_offsets():
    ans = as_answers(long_df())
    assert list(ans.tasks) == ["t1", "t2", "t3"]
    assert list(ans.workers) == ["a", "b"]
    assert list(ans.classes) == ["no", "yes"]
    assert ans.task.tolist() == [0, 0, 1, 1, 2]
    assert ans.offsets.tolist() == [0, 2, 4, 5]
    assert ans.worker.tolist() == [0, 1, 0, 1, 0]
    frame = ans.to_frame().sort_values(["task", "worker"]).reset_index(drop=True)
    expected = long_df().sort_values(["task", "worker"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)


def test_vote_counts_and_value_codes():
    ans = as_answers(long_df())
    assert ans.vote_counts.tolist() == [[1, 1], [2, 0], [0, 1]]
    assert ans.value_codes.tolist() == (ans.worker * 2 + ans.label).tolist()


def test_any_hashable_ids_and_labels():
    df = pd.DataFrame({"task": [1, 1, 2.5, 2.5], "worker": [True, False, True, False],
                       "label": [("x",), ("y",), ("x",), ("x",)]})
    ans = as_answers(df)
    assert ans.n_tasks == 2 and ans.n_workers == 2
    assert set(ans.classes) == {("x",), ("y",)}


def test_mixed_type_ids_are_encoded_in_an_order_independent_of_rows():
    df = pd.DataFrame({"task": ["a", 1, "a"], "worker": ["w", "w", 3], "label": [0, 1, 1]})
    ans = as_answers(df)
    assert set(ans.tasks) == {"a", 1}
    assert list(as_answers(df.iloc[::-1]).tasks) == list(ans.tasks)


def test_custom_column_names():
    df = long_df().rename(columns={"task": "item", "worker": "annotator", "label": "answer"})
    ans = as_answers(df, task_col="item", worker_col="annotator", label_col="answer")
    assert ans.n_answers == 5


def test_explicit_classes_keep_unchosen_class_and_order():
    ans = as_answers(long_df(), classes=["yes", "no", "maybe"])
    assert list(ans.classes) == ["yes", "no", "maybe"]
    assert ans.vote_counts[:, 2].sum() == 0


def test_dense_array_with_missing_entries():
    mat = np.array([[0, 1, np.nan], [1, np.nan, 1], [np.nan, np.nan, 0]])
    ans = as_answers(mat)
    assert ans.n_answers == 5 and ans.n_tasks == 3 and ans.n_workers == 3
    assert list(ans.classes) == [0, 1]  # whole-number floats become ints
    assert isinstance(ans.classes[0], (int, np.integer))


def test_dense_dataframe_uses_index_and_columns_and_pd_na():
    frame = pd.DataFrame({"ann1": ["a", None, "b"], "ann2": [pd.NA, "b", "b"]}, index=["x", "y", "z"])
    ans = as_answers(frame)
    assert list(ans.tasks) == ["x", "y", "z"]
    assert list(ans.workers) == ["ann1", "ann2"]
    assert ans.n_answers == 4


def test_dense_and_long_agree():
    mat = pd.DataFrame([["y", "n"], ["n", None]], index=["t1", "t2"], columns=["w1", "w2"])
    dense = as_answers(mat)
    long = as_answers(pd.DataFrame({"task": ["t1", "t1", "t2"], "worker": ["w1", "w2", "w1"],
                                    "label": ["y", "n", "n"]}))
    for name in ("task", "worker", "label", "offsets"):
        assert getattr(dense, name).tolist() == getattr(long, name).tolist()


def test_read_csv_tsv_keep_ids_as_strings(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("task,worker,label\n007,1,0\n007,2,1\n8,1,1\n")
    ans = as_answers(str(p))
    assert list(ans.tasks) == ["007", "8"]
    q = tmp_path / "a.tsv"
    q.write_text("task\tworker\tlabel\n007\t1\t0\n007\t2\t1\n")
    assert as_answers(q).n_answers == 2


def test_read_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    p = tmp_path / "a.parquet"
    long_df().to_parquet(p)
    assert as_answers(p).n_answers == 5


def test_subset_workers_rebuilds_offsets():
    ans = as_answers(long_df())
    sub = ans.subset_workers([0])
    assert sub.n_answers == 3
    assert sub.offsets.tolist() == [0, 1, 2, 3]
    assert list(sub.workers) == list(ans.workers)


def test_encode_like_maps_to_fitted_codes_and_rejects_unknown_workers():
    ans = as_answers(long_df())
    new = ans.encode_like(pd.DataFrame({"task": ["n1"], "worker": ["b"], "label": ["yes"]}))
    assert new.worker.tolist() == [1] and new.label.tolist() == [1]
    with pytest.raises(InputError, match="not seen during fit"):
        ans.encode_like(pd.DataFrame({"task": ["n1"], "worker": ["zed"], "label": ["yes"]}))


# ---------------------------------------------------------------- bad input
def test_empty_input():
    with pytest.raises(InputError, match="no answers"):
        as_answers(pd.DataFrame({"task": [], "worker": [], "label": []}))
    with pytest.raises(InputError, match="no answers"):
        as_answers(np.full((2, 2), np.nan))


def test_empty_file(tmp_path):
    p = tmp_path / "e.csv"
    p.write_text("")
    with pytest.raises(InputError, match="empty"):
        as_answers(p)


def test_missing_column_is_named():
    with pytest.raises(InputError, match=r"missing column\(s\) \['label'\]"):
        as_answers(long_df().drop(columns="label"))


def test_null_ids_and_labels_are_named_with_row():
    df = long_df()
    df.loc[3, "worker"] = None
    with pytest.raises(InputError, match="column 'worker' has 1 missing value.*row 3"):
        as_answers(df)
    df = long_df()
    df.loc[1, "label"] = np.nan
    with pytest.raises(InputError, match="column 'label' has 1 missing"):
        as_answers(df)


def test_duplicate_answer_names_pair_and_rows():
    df = pd.concat([long_df(), pd.DataFrame({"task": ["t1"], "worker": ["a"], "label": ["no"]})],
                   ignore_index=True)
    with pytest.raises(InputError, match=r"worker 'a' answered task 't1' more than once \(rows 1 and 5\)"):
        as_answers(df)


def test_duplicates_first_and_last():
    df = pd.concat([long_df(), pd.DataFrame({"task": ["t1"], "worker": ["a"], "label": ["no"]})],
                   ignore_index=True)
    first = as_answers(df, duplicates="first")
    last = as_answers(df, duplicates="last")
    assert first.n_answers == last.n_answers == 5
    row = lambda a: a.label[(a.task == 0) & (a.worker == 0)][0]  # noqa: E731
    assert first.classes[row(first)] == "yes"
    assert last.classes[row(last)] == "no"
    with pytest.raises(InputError, match="duplicates must be one of"):
        as_answers(df, duplicates="keep")


def test_duplicate_in_file_names_lines(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("task,worker,label\nt1,a,x\nt1,b,y\nt1,a,y\n")
    with pytest.raises(InputError, match=r"d.csv: .*\(lines 2 and 4\)"):
        as_answers(p)


def test_single_label_without_classes_is_an_error_with_a_fix():
    df = long_df().assign(label="yes")
    with pytest.raises(InputError, match="only one distinct label.*classes="):
        as_answers(df)
    assert as_answers(df, classes=["yes", "no"]).n_classes == 2


def test_label_outside_explicit_classes():
    with pytest.raises(InputError, match=r"label\(s\) \['no'\] not in the given classes"):
        as_answers(long_df(), classes=["yes", "maybe"])


def test_non_1d_and_duplicated_columns():
    with pytest.raises(InputError, match="one-dimensional"):
        CrowdAnswers.from_arrays(np.zeros((2, 2)), [1, 2], [0, 1])
    df = long_df()
    df = pd.concat([df, df[["label"]]], axis=1)
    with pytest.raises(InputError, match="not one column"):
        as_answers(df)


def test_unhashable_labels():
    df = long_df().astype(object)
    df.at[0, "label"] = ["a", "list"]
    with pytest.raises(InputError, match="unhashable"):
        as_answers(df)


def test_unsupported_type_and_wrong_shape():
    with pytest.raises(InputError, match="cannot read answers"):
        as_answers(42)
    with pytest.raises(InputError, match="2-D"):
        as_answers(np.zeros(3))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        as_answers(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="directory"):
        as_answers(tmp_path)


def test_counting_sort_matches_lexsort_reference():
    from crowdmix.kernels.encoding import sort_by_task_worker

    rng = np.random.default_rng(0)
    for n, nt, nw in [(1, 1, 1), (50, 3, 4), (5000, 300, 40)]:
        task = rng.integers(0, nt, n).astype(np.int32)
        worker = rng.integers(0, nw, n).astype(np.int32)
        np.testing.assert_array_equal(sort_by_task_worker(task, worker, nt, nw),
                                      np.lexsort((worker, task)))
