"""Parsing CSV bytes: every record kept with its line number, misaligned records set aside with a reason,
and inputs that are not a CSV table at all rejected with a clear InputError."""

from __future__ import annotations

import pytest

from etl.errors import InputError
from etl.parse_csv import LINE, QUARANTINE_COLUMNS, parse_csv


def test_parse_keeps_text_and_line_numbers():
    parsed = parse_csv(b"a,b\n1, x \n\n3,\n")
    assert list(parsed.frame.columns) == ["a", "b"]
    assert parsed.frame.index.name == LINE
    assert parsed.frame.index.tolist() == [2, 4]  # the blank line 3 is not a record
    assert parsed.frame.loc[2].tolist() == ["1", " x "]
    assert parsed.rows == 2 and len(parsed.malformed) == 0


def test_parse_sets_aside_records_with_wrong_field_count():
    parsed = parse_csv(b"a,b\n1,2\n1,2,3\n4\n")
    assert parsed.rows == 3 and len(parsed.frame) == 1
    assert list(parsed.malformed.columns) == list(QUARANTINE_COLUMNS)
    assert parsed.malformed[LINE].tolist() == [3, 4]
    assert parsed.malformed["reason"].tolist() == [
        "record: has 3 fields, expected 2 as in the header",
        "record: has 1 fields, expected 2 as in the header",
    ]
    assert parsed.malformed["record"].tolist() == ["1,2,3", "4"]


def test_parse_handles_bom_crlf_and_quoted_newlines():
    parsed = parse_csv('\ufeffa,b\r\n"multi\nline",2\r\n5,6\r\n'.encode())
    assert list(parsed.frame.columns) == ["a", "b"]
    assert parsed.frame["a"].tolist() == ["multi\nline", "5"]
    assert parsed.frame.index.tolist() == [3, 4]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the input is empty"),
        (b"  \n\n", "the input is empty"),
        (b"a,b\n", "header but no rows"),
        (b"a,a\n1,2\n", r"repeats column\(s\) \['a'\]"),
        (b"a,b\n\xff\xfe\x00,1\n", "not UTF-8"),
        (b",,\n1,2,3\n", "not a CSV header"),
        (b"a,b\n1,2\n3," + b"x" * 200_000 + b"\n", "not valid CSV near line 3: field larger"),
    ],
)
def test_parse_rejects_unusable_input(data, message):
    with pytest.raises(InputError, match=message):
        parse_csv(data)
