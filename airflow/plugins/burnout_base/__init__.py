"""The ground floor of the platform: the one settings object and the MLflow wiring. It imports nothing else
of the project, so that the data contract, the ETL, modeling, the DAGs, the service and the tools can all
stand on it."""
