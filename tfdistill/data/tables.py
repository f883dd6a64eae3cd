"""The CSV and TSV rules every reader of a table here shares: training data and `predict`.

Every file is UTF-8; a UTF-16 file (a spreadsheet's "Unicode Text" export) is refused
by name (`check_not_utf16`), since read as UTF-8 it is text with a NUL between letters.

A `.csv` file has standard quoting, read strictly: a quote that is never closed, or a
closing quote followed by more text (`"great" film,1`), is an error naming the line
where its row starts, since either would silently swallow or split the rows after it.
A quote inside an unquoted field (`a "great" film,1`) is kept as text. A `.tsv` file
carries quotes verbatim. A field may hold up to `MAX_FIELD_CHARS` characters.

Example:

>>> rows = table_rows(['text,label\\n', '"a fine film",1\\n', '\\n', 'dull,0\\n'], "t.csv")
>>> list(rows)
[(1, ['text', 'label']), (2, ['a fine film', '1']), (4, ['dull', '0'])]
>>> list(table_rows(['text,label\\n', '"never closed,1\\n', 'dull,0\\n'], "t.csv"))
Traceback (most recent call last):
...
ValueError: t.csv: line 2: a quoted field opened here is never closed (unterminated quote) (seen at line 3).
"""

import codecs
import csv

# The longest CSV or TSV field read, in characters (the csv module's default is
# 131,072): 10 MiB, far above any text a model reads, below a runaway field.
MAX_FIELD_CHARS = 10 * 2**20

# What the csv module's errors mean, by the start of their message.
_CSV_PROBLEMS = {
    "unexpected end of data": "a quoted field opened here is never closed (unterminated quote)",
    "',' expected after '\"'": (
        "stray quote: a quoted field's closing quote must be followed by a comma or "
        "the end of the line (write a quote inside a quoted field as \"\")"
    ),
    "field larger than field limit": (
        "a field is longer than {limit} characters, the most a CSV or TSV field may "
        "hold (in a CSV file, an unclosed quote makes one field of the rest of the file)"
    ),
}


def check_not_utf16(path):
    """Raises a `ValueError` naming `path` if it starts with a UTF-16 byte-order mark."""
    with open(path, "rb") as file:
        start = file.read(2)
    if start in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise ValueError(
            f"{path}: the file is UTF-16 text (a spreadsheet's \"Unicode Text\"); save it "
            "as UTF-8 (\"CSV UTF-8\" in Excel)."
        )


# Another separator than the file's name says, seen in a header of one field: the
# name of what to do. Excel saves "CSV" with semicolons where the decimal mark is a comma.
_OTHER_SEPARATORS = {
    ".csv": {";": "semicolon-separated (a spreadsheet's CSV where commas are decimal "
                  "marks); save it as \"CSV UTF-8\" (commas)",
             "\t": "tab-separated; name it .tsv"},
    ".tsv": {",": "comma-separated; name it .csv"},
}


def separator_hint(header, path):
    """`"; ..."` naming the separator a header of one field holds instead of the one
    `path`'s extension means, or `""`.

    >>> separator_hint(["text;label"], "reviews.csv")[:45]
    '; its header is one field: the file looks sem'
    >>> separator_hint(["text", "label"], "reviews.csv")
    ''
    """
    suffix = str(path)[str(path).rfind("."):].lower()
    if len(header) != 1:
        return ""
    for separator, what in _OTHER_SEPARATORS.get(suffix, {}).items():
        if separator in header[0]:
            return f"; its header is one field: the file looks {what}"
    return ""


def table_rows(lines, path):
    """Yields `(line_number, fields)` for each non-empty row of CSV or TSV `lines`.

    Args:
        lines: an iterable of text lines with their endings (a file opened with
            `newline=""`, or a list); read as it is consumed.
        path: the file's name: `.tsv` means tabs and no quoting, anything else CSV.
            Error messages start with it.

    Raises:
        ValueError: a csv error, naming the line where its row starts.
    """
    # TSV files conventionally carry quotes verbatim, so no quoting there.
    if str(path).endswith(".tsv"):
        reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE, strict=True)
    else:
        reader = csv.reader(lines, strict=True)
    line_number = 1
    previous_limit = csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        for fields in reader:
            if fields:
                yield line_number, fields
            # A quoted field may span lines: the next row starts after them.
            line_number = reader.line_num + 1
    except csv.Error as error:
        message = str(error)
        problem = next(
            (text for start, text in _CSV_PROBLEMS.items() if message.startswith(start)), message
        )
        seen_at = f" (seen at line {reader.line_num})" if reader.line_num > line_number else ""
        problem = problem.replace("{limit}", f"{MAX_FIELD_CHARS:,}")
        raise ValueError(f"{path}: line {line_number}: {problem}{seen_at}.") from None
    finally:
        csv.field_size_limit(previous_limit)
