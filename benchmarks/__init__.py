"""Benchmarks: our service against MLflow's own scoring server on the same model version, side by side in one
run, plus the pipeline's times. Outside the runtime packages and never in an image; nothing imports it.
Entry point: `python -m benchmarks` (`make bench`), i.e. `benchmarks.run.run_bench`."""
