"""The split: stratified on the Burn Rate class, seeded, and refusing data too small to stratify."""

from __future__ import annotations

import pandas as pd
import pytest

from etl.clean import clean_records
from etl.contract import CLASSES, TARGET
from etl.errors import InputError
from etl.split import LABEL, count_classes, label_classes, split_train_test


@pytest.fixture(scope="module")
def cleaned(synthetic_frame) -> pd.DataFrame:
    return clean_records(synthetic_frame).frame


def test_label_classes_uses_contract_bounds():
    labels = label_classes(pd.Series([0.0, 0.3299, 0.33, 0.6599, 0.66, 1.0]))
    assert labels.name == LABEL
    assert labels.tolist() == ["Low", "Low", "Medium", "Medium", "High", "High"]


def test_split_keeps_class_proportions(cleaned):
    train, test = split_train_test(cleaned, test_size=0.2, seed=1)
    assert len(test) == pytest.approx(0.2 * len(cleaned), abs=1)
    assert set(train.index).isdisjoint(test.index)
    assert len(train) + len(test) == len(cleaned)
    whole = label_classes(cleaned[TARGET]).value_counts(normalize=True)
    for part in (train, test):
        shares = label_classes(part[TARGET]).value_counts(normalize=True)
        for label in CLASSES:
            assert shares[label] == pytest.approx(whole[label], abs=0.02)


def test_split_is_deterministic_by_seed(cleaned):
    first, _ = split_train_test(cleaned, 0.2, seed=3)
    again, _ = split_train_test(cleaned, 0.2, seed=3)
    other, _ = split_train_test(cleaned, 0.2, seed=4)
    assert first.index.tolist() == again.index.tolist()
    assert first.index.tolist() != other.index.tolist()


def test_split_rejects_classes_too_small_to_stratify(cleaned):
    tiny = pd.concat([cleaned[cleaned[TARGET] < 0.33].head(5), cleaned[cleaned[TARGET] >= 0.66].head(1)])
    with pytest.raises(InputError, match="class.*High.*at least 2 rows"):
        split_train_test(tiny, 0.2, seed=1)


def test_split_rejects_an_empty_frame(cleaned):
    with pytest.raises(InputError, match="cannot split 0 rows"):
        split_train_test(cleaned.head(0), 0.2, seed=1)


def test_count_classes_lists_every_class_in_order():
    assert count_classes(pd.Series(["High", "Low", "High"])) == {"Low": 1, "Medium": 0, "High": 2}


def test_split_is_the_one_stratified_on_the_labels_themselves(cleaned):
    # The split stratifies on integer codes (no Python string per row); it must be the split the labels give.
    from sklearn.model_selection import train_test_split

    expected, _ = train_test_split(
        cleaned, test_size=0.2, stratify=label_classes(cleaned[TARGET]), random_state=5
    )
    train, _ = split_train_test(cleaned, 0.2, seed=5)
    assert train.index.tolist() == expected.index.tolist()


def test_label_classes_agrees_with_the_contract_row_by_row(cleaned):
    from etl.contract import burn_rate_to_class

    assert label_classes(cleaned[TARGET]).tolist() == [burn_rate_to_class(b) for b in cleaned[TARGET]]
