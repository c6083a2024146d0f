"""The runnable examples run end to end and write their figures."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DISCRETE = next((p / "shared" / "data" / "discrete" for p in [ROOT, *ROOT.parents]
                 if (p / "shared" / "data" / "discrete").is_dir()), None)

EXAMPLES = [
    ("simulated_tuned_neurons.py", False),
    ("cluster_categorical_records.py", True),
    ("cluster_auditory_cortex.py", True),
]


@pytest.mark.parametrize("script, needs_data", EXAMPLES)
def test_example_runs_and_writes_figures(tmp_path, script, needs_data):
    args = [sys.executable, str(ROOT / "examples" / script), "--out", str(tmp_path)]
    if needs_data:
        if DISCRETE is None:
            pytest.skip("shared discrete datasets (../shared/data/discrete) not available")
        args += ["--data", str(DISCRETE)]
    proc = subprocess.run(args, capture_output=True, text=True,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert list(tmp_path.glob("*.png")), f"{script} wrote no figure"

