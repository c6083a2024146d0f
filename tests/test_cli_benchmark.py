"""End-to-end tests of `crowdmix benchmark` on files."""

from pathlib import Path

import pandas as pd
import pytest

from crowdmix.cli import main
from crowdmix.datasets import _find_root, make_one_coin_crowd

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE, EXAMPLE_TRUTH = ROOT / "data" / "example_labels.csv", ROOT / "data" / "example_truth.csv"


def run(*args):
    return main([str(a) for a in args])


def test_file_pair_prints_a_table(capsys):
    assert run("benchmark", EXAMPLE, "--truth", EXAMPLE_TRUTH, "--methods", "mv,wawa,kos") == 0
    out = capsys.readouterr().out
    assert "example_labels" in out and "wawa" in out
    assert "binary labels only" in out  # the example has 3 classes: KOS says why it did not run


def test_folder_of_datasets_written_atomically(tmp_path):
    root = tmp_path / "sets"
    for name, seed in (("a", 0), ("b", 1)):
        crowd = make_one_coin_crowd(n_tasks=80, n_workers=9, answers_per_task=5, random_state=seed)
        (root / name).mkdir(parents=True)
        crowd.answers.to_csv(root / name / "labels.csv", index=False)
        crowd.truth.rename("label").reset_index().to_csv(root / name / "truth.csv", index=False)
    out = tmp_path / "table.csv"
    assert run("benchmark", root, "--methods", "mv,zbs,kos", "-o", out, "--repeat", "2") == 0
    table = pd.read_csv(out)
    assert sorted(zip(table.dataset, table.method, strict=True)) == sorted(
        (d, m) for d in "ab" for m in ("mv", "zbs", "kos"))
    assert table.error.between(0, 0.5).all()
    assert not list(tmp_path.glob(".*.tmp"))


def test_errors_are_one_line_with_status_2(tmp_path, capsys):
    assert run("benchmark", EXAMPLE) == 2
    assert "--truth" in capsys.readouterr().err
    assert run("benchmark", EXAMPLE, "--truth", EXAMPLE_TRUTH, "--methods", "mv,zzz") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown method" in err
    before = EXAMPLE_TRUTH.read_bytes()
    assert run("benchmark", EXAMPLE, "--truth", EXAMPLE_TRUTH, "-o", EXAMPLE_TRUTH) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert EXAMPLE_TRUTH.read_bytes() == before
    assert run("benchmark", tmp_path / "missing") == 2


def test_shared_data_in_place(capsys):
    try:
        root = _find_root(None)
    except FileNotFoundError:
        pytest.skip("shared crowd benchmark data (../shared/data/crowd) not available")
    assert run("benchmark", root / "bird", root / "rte", "--methods", "mv,wawa,kos") == 0
    out = capsys.readouterr().out
    lines = [ln.split() for ln in out.splitlines()[1:]]
    errors = {(ln[0], ln[1]): float(ln[2]) for ln in lines}
    assert errors[("bird", "mv")] == pytest.approx(24.07)
    assert errors[("bird", "kos")] == pytest.approx(27.78)  # = crowd-kit 1.4.2's KOS
