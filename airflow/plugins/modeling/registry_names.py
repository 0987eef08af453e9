"""The registry's vocabulary, spelled once: the alias that serves, and the tag keys every registered version
carries (its family, which is also its family alias, and the dataset version it was trained on). Imports
nothing, so that the service can share it without loading any estimator library."""

CHAMPION = "champion"
FAMILY_TAG = "family"
DATASET_VERSION_TAG = "dataset_version"
