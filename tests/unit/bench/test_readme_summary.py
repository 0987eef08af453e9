"""A full run rewrites the README's benchmark summary between its markers, and nothing else of the README."""

from __future__ import annotations

from test_report import make_result

from benchmarks.readme_summary import SUMMARY_END, SUMMARY_START, readme_summary, update_readme


def result():
    return {**make_result(), "api_workers": 2}


def test_summary_quotes_the_headline_rows_and_the_targets_met():
    text = readme_summary(result())
    assert text.startswith(
        "The last full run (2026-01-02, model version 3 (lightgbm), 2 worker process(es) on 2"
    )
    assert "REST 1 record at c=8 1,234 req/s, 17.4x MLflow's scoring server" in text
    assert "V2 at c=8 - MLServer over REST" in text  # not measured in this result: said, not made up
    met = sum(t["met"] is True for t in result()["targets"])
    assert f"{met} of {len(result()['targets'])} targets met" in text
    assert "![throughput against concurrency](docs/benchmarks/throughput-by-concurrency.png)" in text


def test_update_readme_replaces_only_the_summary(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n## Benchmarks\n\n{SUMMARY_START}\nold figures\n{SUMMARY_END}\n\n## Next\n")

    assert update_readme(readme, result())

    text = readme.read_text()
    assert "old figures" not in text
    assert text.startswith(f"# Title\n\n## Benchmarks\n\n{SUMMARY_START}\nThe last full run")
    assert text.endswith(f"{SUMMARY_END}\n\n## Next\n")


def test_update_readme_without_markers_writes_nothing(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n")
    assert not update_readme(readme, result())
    assert readme.read_text() == "# Title\n"
