"""What training is asked to train on: the dataset version requested, else the newest announced."""

from __future__ import annotations

from modeling.train import pick_dataset_version


def test_pick_dataset_version_prefers_request_then_newest_event():
    assert pick_dataset_version("v-asked", ["v1", "v2"]) == "v-asked"
    assert pick_dataset_version(None, ["v1", None, "v2"]) == "v2"
    assert pick_dataset_version("", []) is None
