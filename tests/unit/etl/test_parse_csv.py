"""Parsing CSV bytes: every record kept with its line number, every other line accounted for (malformed lines
set aside one by one with a reason, blank lines counted), and inputs that are not a CSV table at all rejected
with a clear InputError."""

from __future__ import annotations

import pytest

from etl.errors import InputError
from etl.parse_csv import LINE, QUARANTINE_COLUMNS, REASON, RECORD, parse_csv

UNTERMINATED = "record: unterminated quote starting on line {} (a quoted field must close on its own line)"


def test_parse_keeps_text_and_line_numbers():
    parsed = parse_csv(b"a,b\n1, x \n\n3,\n")
    assert list(parsed.frame.columns) == ["a", "b"]
    assert parsed.frame.index.name == LINE
    assert parsed.frame.index.tolist() == [2, 4]  # the blank line 3 is not a record...
    assert parsed.blank_lines == 1  # ...but it is counted
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


def test_parse_handles_bom_crlf_and_quoted_fields():
    parsed = parse_csv('\ufeffa,b\r\n"x, ""y""",2\r\n5,""\r\n'.encode())
    assert list(parsed.frame.columns) == ["a", "b"]
    assert parsed.frame["a"].tolist() == ['x, "y"', "5"]
    assert parsed.frame["b"].tolist() == ["2", ""]
    assert parsed.frame.index.tolist() == [2, 3]


def test_an_unterminated_quote_costs_only_its_own_line():
    # Six real data lines: a quote opened on line 3 used to swallow lines 4 to 7 into one record.
    lines = ["a,b", "1,x", '2,"never closed', "3,y", "4,z", "5,w", "6,v"]
    parsed = parse_csv(("\n".join(lines) + "\n").encode())
    assert parsed.rows == 6
    assert parsed.frame.index.tolist() == [2, 4, 5, 6, 7]
    assert parsed.frame["a"].tolist() == ["1", "3", "4", "5", "6"]
    assert parsed.malformed.to_dict("records") == [
        {LINE: 3, REASON: UNTERMINATED.format(3), RECORD: '2,"never closed'}
    ]


def test_a_field_spanning_lines_is_quarantined_line_by_line():
    parsed = parse_csv(b'a,b\n"multi\nline",2\n"one\ntwo\nthree",3\n5,6\n')
    assert parsed.frame.index.tolist() == [7]
    assert parsed.malformed[LINE].tolist() == [2, 3, 4, 5, 6]
    assert parsed.malformed[REASON].tolist() == [
        UNTERMINATED.format(2),
        "record: stray quote: a quote inside an unquoted field at column 1",
        UNTERMINATED.format(4),
        "record: has 1 fields, expected 2 as in the header",
        "record: stray quote: a quote inside an unquoted field at column 1",
    ]
    assert parsed.malformed[RECORD].tolist() == ['"multi', 'line",2', '"one', "two", 'three",3']


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('ab"c,1', "stray quote: a quote inside an unquoted field at column 1"),
        ('1,"b"c', "stray quote: text after the closing quote at column 6"),
        ("x\ry,1", "a carriage return inside the line (fields may not contain line breaks)"),
        ('"a","b",c', "has 3 fields, expected 2 as in the header"),
    ],
)
def test_parse_quarantines_lines_that_break_the_rule(line, reason):
    parsed = parse_csv(f"a,b\n{line}\n1,2\n".encode())
    assert parsed.frame.index.tolist() == [3]
    assert parsed.malformed.to_dict("records") == [{LINE: 2, REASON: f"record: {reason}", RECORD: line}]


def test_every_line_is_accounted_for_whatever_the_chunk_size():
    lines = ["a,b"]
    for i in range(200):
        lines.append(["", f"{i},x", f'{i},"q{i}"', f"{i},1,2", f'"{i}'][i % 5])
    data = ("\r\n".join(lines) + "\r\n").encode()
    whole = parse_csv(data)
    for chunk_bytes in (1, 7, 100):
        parsed = parse_csv(data, chunk_bytes=chunk_bytes)
        assert 1 + parsed.rows + parsed.blank_lines == len(lines)
        assert parsed.frame.equals(whole.frame) and parsed.malformed.equals(whole.malformed)
    assert (whole.blank_lines, len(whole.frame), len(whole.malformed)) == (40, 80, 80)
    assert whole.malformed[LINE].is_monotonic_increasing


def test_a_last_line_without_newline_is_still_a_record():
    assert parse_csv(b"a,b\n1,2\n3,4").frame.index.tolist() == [2, 3]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the input is empty"),
        (b"  \n\n", "the input is empty"),
        (b"a,b\n", "header but no rows"),
        (b"a,b\n\n\r\n", "header but no rows"),
        (b'a,"b\n1,2\n', "first line is not a CSV header: unterminated quote"),
        (b"a,a\n1,2\n", r"repeats column\(s\) \['a'\]"),
        (b"a,b\n\xff\xfe\x00,1\n", "not UTF-8"),
        (b",,\n1,2,3\n", "not a CSV header"),
        (b"a,b\n1,2\n3," + b"x" * 200_000 + b"\n", "not valid CSV near line 3: field larger"),
    ],
)
def test_parse_rejects_unusable_input(data, message):
    with pytest.raises(InputError, match=message):
        parse_csv(data)
