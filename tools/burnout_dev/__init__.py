"""Development tooling: `burnout demo` (the embedded platform in one command), the local stack without Docker,
the helpers that start and stop background processes, and the in-process Airflow runner the demo and the DAG
tests use. Never shipped in an image."""
