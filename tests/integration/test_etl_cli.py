"""`burnout generate-data` and `burnout etl` from the command line: one JSON summary on success, one clear
error line (exit code 2, no traceback) on input the ETL cannot process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from burnout_base.settings import get_settings
from burnout_cli.app import app
from etl.synthetic import generate_synthetic


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """Invoke the CLI with BURNOUT_HOME in tmp_path and no .env (the working directory is tmp_path)."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("BURNOUT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("BURNOUT_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    get_settings.cache_clear()


def test_generate_data_then_etl_prints_one_json_summary(cli, tmp_path):
    out = tmp_path / "data" / "raw.csv"
    generated = cli("generate-data", "--rows", "400", "--seed", "3", "--out", str(out))
    assert generated.exit_code == 0, generated.output
    assert json.loads(generated.stdout) == {"path": str(out), "rows": 400, "seed": 3}

    result = cli("etl", "--input", str(out))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows_in"] == 400
    assert (
        summary["rows_in"]
        == summary["rows_kept"] + sum(summary["rows_dropped"].values()) + summary["rows_quarantined"]
    )
    assert summary["published_to"].startswith((tmp_path / "home" / "lake").as_uri())


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda d: _write(d / "empty.csv", ""), "the input is empty"),
        (lambda d: _write(d / "header.csv", ",".join(generate_synthetic(1, 1).columns) + "\n"), "no rows"),
        (
            lambda d: _write(
                d / "cols.csv", generate_synthetic(5, 1).drop(columns=["Gender"]).to_csv(index=False)
            ),
            r"missing required column\(s\) \['Gender'\]",
        ),
        (lambda d: d / "does-not-exist.csv", "input file not found"),
        (lambda d: _write(d / "rubbish.csv", "just some words\nand more\n"), "missing required column"),
        (lambda d: "s3://only-bucket", "not an s3://bucket/key URI"),
    ],
    ids=["empty", "header-only", "missing-column", "no-file", "not-the-dataset", "bad-uri"],
)
def test_etl_reports_bad_input_in_one_line(cli, tmp_path, make_input, message):
    result = cli("etl", "--input", str(make_input(tmp_path)))
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert re.search(message, lines[0])
    assert "Traceback" not in result.output


def test_etl_command_never_prints_a_traceback(tmp_path):
    """The installed command, as a user runs it, on an empty file."""
    empty = _write(tmp_path / "empty.csv", "")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BURNOUT_")}
    env["BURNOUT_HOME"] = str(tmp_path / "home")
    command = [sys.executable, "-m", "burnout_cli", "etl", "--input", str(empty)]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert completed.returncode == 2
    assert completed.stderr.strip() == "error: the input is empty: expected a CSV header and at least one row"
    assert completed.stdout == ""
