"""End-to-end tests of `crowdmix aggregate` on files."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from crowdmix.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "example_labels.csv"


def run(*args):
    return main([str(a) for a in args])


def test_aggregate_example_with_workers_report(tmp_path):
    out, workers = tmp_path / "labels.csv", tmp_path / "workers.csv"
    assert run("aggregate", EXAMPLE, "-o", out, "--workers", workers, "--proba") == 0
    table = pd.read_csv(out)
    assert list(table.columns[:3]) == ["task", "label", "confidence"]
    assert {"p_cat", "p_dog", "p_fox"} <= set(table.columns)
    truth = pd.read_csv(ROOT / "data" / "example_truth.csv").set_index("task")["label"]
    acc = (table.set_index("task")["label"] == truth.loc[table["task"]].to_numpy()).mean()
    assert acc > 0.85
    report = pd.read_csv(workers)
    assert {"worker", "n_answers", "accuracy"} <= set(report.columns)
    assert report["n_answers"].sum() == len(pd.read_csv(EXAMPLE))
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind


@pytest.mark.parametrize("method", ["mv", "ds", "one-coin", "diagonal", "stagewise"])
def test_every_method_runs(tmp_path, method):
    out = tmp_path / "o.csv"
    assert run("aggregate", EXAMPLE, "-o", out, "--method", method) == 0
    assert len(pd.read_csv(out)) == 1000


def test_custom_columns_tsv_and_classes(tmp_path):
    src = tmp_path / "in.tsv"
    pd.DataFrame({"item": ["1", "1", "2"], "who": ["a", "b", "a"], "ans": ["y", "y", "y"]}).to_csv(
        src, sep="\t", index=False)
    out = tmp_path / "o.csv"
    assert run("aggregate", src, "-o", out, "--task-col", "item", "--worker-col", "who",
               "--label-col", "ans", "--classes", "y,n", "--method", "mv") == 0
    assert pd.read_csv(out)["label"].tolist() == ["y", "y"]


def test_refuses_to_overwrite_input_and_keeps_it(tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_bytes(EXAMPLE.read_bytes())
    before = src.read_bytes()
    assert run("aggregate", src, "-o", src) == 2
    assert src.read_bytes() == before
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "refusing to overwrite the input" in err
    linked = tmp_path / "link.csv"
    os.symlink(src, linked)
    assert run("aggregate", src, "-o", linked) == 2


@pytest.mark.parametrize("content, message", [
    ("task,worker\n1,a\n", "missing column"),
    ("task,worker,label\n1,a,x\n1,a,y\n", "more than once (lines 2 and 3)"),
    ("task,worker,label\n1,a,x\n2,b,x\n", "only one distinct label"),
    ("task,worker,label\n1,,x\n2,b,y\n", "missing value"),
    ("", "empty"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, content, message):
    src = tmp_path / "bad.csv"
    src.write_text(content)
    out = tmp_path / "o.csv"
    assert run("aggregate", src, "-o", out) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0
    assert not out.exists()


def test_failed_run_leaves_previous_output_untouched(tmp_path):
    out = tmp_path / "o.csv"
    out.write_text("previous")
    bad = tmp_path / "bad.csv"
    bad.write_text("task,worker\n1,a\n")
    assert run("aggregate", bad, "-o", out) == 2
    assert out.read_text() == "previous"


def test_missing_output_folder(tmp_path, capsys):
    assert run("aggregate", EXAMPLE, "-o", tmp_path / "no" / "o.csv") == 2
    assert "does not exist" in capsys.readouterr().err


def test_console_script_progress_and_exit_code(tmp_path):
    out = tmp_path / "o.csv"
    proc = subprocess.run([sys.executable, "-m", "crowdmix", "aggregate", str(EXAMPLE), "-o", str(out),
                           "--progress"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "iteration" in proc.stderr and out.exists()
    proc = subprocess.run([sys.executable, "-m", "crowdmix", "aggregate", str(tmp_path / "none.csv"),
                           "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 2 and "no such file" in proc.stderr


@pytest.mark.parametrize("method", ["ds", "stagewise"])
def test_worker_report_of_confusion_models(tmp_path, method):
    out, workers = tmp_path / "o.csv", tmp_path / "w.csv"
    assert run("aggregate", EXAMPLE, "-o", out, "--method", method, "--workers", workers) == 0
    report = pd.read_csv(workers)
    assert {"accuracy", "balanced_accuracy", "recall_cat", "recall_dog", "recall_fox"} <= set(report.columns)
    assert report["accuracy"].between(0, 1).all()
