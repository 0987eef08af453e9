"""Platform glue: the end-to-end pipeline, DAG helpers and the `burnout` command line (demo, local stack)."""
