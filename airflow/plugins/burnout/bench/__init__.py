"""Benchmarks: our service against MLflow's own scoring server on the same model version, side by side in one
run, plus the pipeline's times. Entry point: `burnout.bench.run.run_bench` (`burnout bench`, `make bench`)."""
