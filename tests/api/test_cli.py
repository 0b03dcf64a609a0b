"""``optserve run``: the table, the result file and exit code 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def optserve(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_run_prints_a_table_and_writes_the_result(tmp_path):
    out = tmp_path / "result.json"
    proc = optserve("run", "examples/figure1.json", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == [
        "label",
        "optimizer",
        "status",
        "steps",
        "final",
        "loss",
        "best",
        "loss",
    ]
    result = json.loads(out.read_text())
    job = json.loads((ROOT / "examples/figure1.json").read_text())
    assert [r["optimizer"] for r in result["runs"]] == [r["optimizer"] for r in job["runs"]]
    for run in result["runs"]:
        row = next(line for line in lines if line.startswith(run["label"] + " "))
        assert run["status"] in row and str(run["steps"]) in row
    assert len(result["landscape"]["z"]) == 101


def test_bad_spec_names_the_field_and_exits_2(tmp_path):
    bad = {
        "objective": {"name": "rosenbrock"},
        "runs": [{"optimizer": "adam", "hyperparameters": {"learning_rate": -1}}],
        "steps": -3,
    }
    proc = optserve("run", "-", stdin=json.dumps(bad))
    assert proc.returncode == 2
    assert "steps" in proc.stderr and proc.stdout == ""


def test_bad_hyperparameter_names_the_field_and_exits_2():
    bad = {
        "objective": {"name": "rosenbrock"},
        "runs": [{"optimizer": "adam", "hyperparameters": {"learning_rate": -1}}],
    }
    proc = optserve("run", "-", stdin=json.dumps(bad))
    assert proc.returncode == 2
    assert "runs[0].hyperparameters.learning_rate" in proc.stderr


def test_malformed_json_and_missing_file_exit_2(tmp_path):
    proc = optserve("run", "-", stdin='{"objective": ')
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr
    proc = optserve("run", str(tmp_path / "missing.json"))
    assert proc.returncode == 2 and "cannot read" in proc.stderr
