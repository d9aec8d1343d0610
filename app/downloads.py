"""What the API sends as files: the Content-Disposition of every download, and CSV tables whose
cells are safe to open in a spreadsheet."""

import csv
import io
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from fastapi.responses import Response

# OWASP's CSV injection list: a spreadsheet reads a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def attachment(filename: str) -> str:
    """A Content-Disposition header value (RFC 6266) for any file name: `filename*` carries the
    name itself in UTF-8, percent-encoded (RFC 8187), and `filename` an ASCII stand-in for clients
    that know only that. The value is ASCII, so it fits any HTTP header (a header is latin-1 on
    the wire; a raw `λ` or `测` cannot be sent at all)."""
    encoded = quote(filename, safe="")
    return f"attachment; filename=\"{ascii_filename(filename)}\"; filename*=UTF-8''{encoded}"


def ascii_filename(filename: str) -> str:
    """`reglab-run3-λ-test.pt` -> `reglab-run3-test.pt`, `café.csv` -> `cafe.csv`: accents
    dropped, other non-ASCII and quoting characters left out, never empty."""
    text = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text)
    text = re.sub(r"-{2,}", "-", text)
    text = re.sub(r"-+\.", ".", text).strip("-.")
    stem, dot, ext = text.rpartition(".")
    if not dot:
        stem, ext = text, ""
    return f"{stem or 'download'}{'.' + ext if ext else ''}"


def csv_cell(value: Any) -> Any:
    """One cell, safe to open in a spreadsheet (OWASP, CSV injection): a text that starts like a
    formula gets a leading `'`, which spreadsheets show as text and do not evaluate. Real numbers
    stay numbers, negative ones included: `-0.5` written from a float is a number to any
    spreadsheet, not a formula, and quoting it would turn a column of values into text. A number
    that is not finite (`-inf`) is written as text and neutralised like any text."""
    if value is None:
        return ""
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([csv_cell(v) for v in header])
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()


def csv_response(filename: str, header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> Response:
    """Every CSV the API serves goes through here (and so through csv_cell)."""
    return Response(
        csv_text(header, rows),
        media_type="text/csv",
        headers={"Content-Disposition": attachment(filename)},
    )
