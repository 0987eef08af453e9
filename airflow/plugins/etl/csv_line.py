"""One CSV line split into fields by RFC 4180 (quoted fields, "" for a quote inside them), refusing what the
strict line rule of parse_csv refuses: a quote that does not close on the line, a stray quote, a carriage
return inside the line."""

from __future__ import annotations


class MalformedLine(ValueError):
    """A line that is not one well-formed record; the message is the quarantine reason."""


def split_line(line: str, line_number: int = 1) -> list[str]:
    """Split one line by RFC 4180 (quoted fields, "" for a quote inside them); MalformedLine otherwise."""
    if "\r" in line:
        raise MalformedLine("a carriage return inside the line (fields may not contain line breaks)")
    if '"' not in line:
        return line.split(",")
    fields, i, n = [], 0, len(line)
    while True:
        if line.startswith('"', i):
            parts, j = [], i + 1
            while True:
                close = line.find('"', j)
                if close < 0:
                    raise MalformedLine(
                        f"unterminated quote starting on line {line_number} (a quoted field must close on "
                        "its own line)"
                    )
                parts.append(line[j:close])
                if not line.startswith('"', close + 1):
                    break
                parts.append('"')  # a doubled quote stands for one
                j = close + 2
            fields.append("".join(parts))
            i = close + 1
            if i < n and line[i] != ",":
                raise MalformedLine(f"stray quote: text after the closing quote at column {i + 1}")
        else:
            comma = line.find(",", i)
            end = n if comma < 0 else comma
            if '"' in line[i:end]:
                raise MalformedLine(f"stray quote: a quote inside an unquoted field at column {i + 1}")
            fields.append(line[i:end])
            i = end
        if i >= n:
            return fields
        i += 1  # past the comma
