"""Platform glue: settings, MLflow wiring, the end-to-end pipeline and the `burnout` command line."""
