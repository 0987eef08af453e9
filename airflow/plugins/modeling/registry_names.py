"""The registry's vocabulary, spelled once: the alias that serves, the one that challenges it, and the tag
keys every registered version carries (its family, which is also its family alias, and the dataset version it
was trained on). Imports nothing, so that the service can share it without loading any estimator library."""

CHAMPION = "champion"
# The best candidate that did not become champion: the one the live evidence compares with it.
CHALLENGER = "challenger"
FAMILY_TAG = "family"
DATASET_VERSION_TAG = "dataset_version"
# The model ensembling the tuned families: its alias, like a family's, names it in the registry.
ENSEMBLE = "ensemble"

# What each training run logs beside its model (paths in the run's artifacts), read back by the service.
MODEL_CARD_ARTIFACT = "model_card.md"
IMPORTANCE_TABLE_ARTIFACT = "explanation/importance.json"
IMPORTANCE_CHART_ARTIFACT = "explanation/importance.png"
# Raw TRAIN records model-agnostic explanations average over ({"records": [...]}, dataset column names).
BACKGROUND_ARTIFACT = "explanation/background.json"
