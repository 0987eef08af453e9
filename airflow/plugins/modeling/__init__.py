"""Model families, Optuna tuning, evaluation on TEST, the model registry and promotion by alias."""
