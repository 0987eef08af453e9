"""The pipeline from the raw CSV to a served champion, declared once: `burnout pipeline` runs its steps in
this process and the burnout_pipeline DAG runs them as tasks; the summary both return, and the call that tells
the API to reload."""
