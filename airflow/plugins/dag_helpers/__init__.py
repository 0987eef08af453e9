"""What the DAG files share: their tasks and their defaults. It imports Airflow, so it ships only in the
Airflow image (the API and minio-init images leave it out)."""
