"""Spreadsheets: writing frames as XLSX and CSV for every download and mail attachment.

One XLSX writer and one CSV writer share `neutralise`, so that no text cell can start a formula in a spreadsheet
program (DESIGN.md, convention 6). Callers build the frames (core/exports.py, core/vendor_batches.py,
core/code_admin.py); a cell that holds an answer (a list, an address) is written as `forms.format_answer` reads it.
"""

from __future__ import annotations

import csv
import io
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import xlsxwriter

from core.errors import SchemaError
from core.forms import format_answer

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIMETYPE = "text/csv"
# OWASP's list for CSV injection: a cell starting with one of these is read as a formula by some program.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Excel's last row is 1,048,576; one is the header.
MAX_XLSX_ROWS = 1_048_575
# Columns with these headers are money, written with two decimals (core/exports.py names its columns so).
UNIT_PRICE, TOTAL = "Unit price", "Total"
MONEY_COLUMNS = frozenset({UNIT_PRICE, TOTAL})
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"


@dataclass(frozen=True)
class ExportFile:
    """A file to download or attach; `filename` is built from the event slug and a timestamp only."""

    filename: str
    mimetype: str
    data: bytes


def neutralise(text: str) -> str:
    """`text` prefixed with a single quote when a spreadsheet program could read it as a formula (OWASP).

    Also when the trigger follows leading whitespace (" =1+1", "\\n=1"): some programs trim cells on import.
    Full-width look-alikes (＝) are left alone: no spreadsheet program we know starts a formula with them.
    """
    if text.startswith(FORMULA_TRIGGERS) or text.lstrip().startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def write_xlsx(sheets: Mapping[str, pd.DataFrame]) -> bytes:
    """An XLSX workbook of `sheets` (name -> frame) with a bold, frozen, filterable header row; every string is
    neutralised.

    Written with XlsxWriter directly, cell by cell with an explicit type, so no string can become a formula
    or a link; in constant-memory mode, rows go to a temporary file as they are written (pandas' to_excel
    must not use that mode: it silently drops columns). Raises SchemaError beyond Excel's row limit.
    """
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {
        "constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
        "strings_to_numbers": False, "default_date_format": DATETIME_FORMAT,
    })
    bold = workbook.add_format({"bold": True})
    money = workbook.add_format({"num_format": "0.00"})
    for name, frame in sheets.items():
        if len(frame) > MAX_XLSX_ROWS:
            raise SchemaError(f"The sheet {name} would have {len(frame):,} rows; Excel takes at most "
                              f"{MAX_XLSX_ROWS:,}. Narrow the export with the filters.")
        sheet = workbook.add_worksheet(name)
        headers = [neutralise(str(column)) for column in frame.columns]
        columns = [_plain_values(frame[column]) for column in frame.columns]
        for index, header in enumerate(headers):
            sample = (len(str(v)) for v in columns[index][:200] if v is not None)
            width = min(max([len(header), *sample], default=8) + 2, 60)
            sheet.set_column(index, index, width, money if header in MONEY_COLUMNS else None)
            sheet.write_string(0, index, header, bold)
        sheet.freeze_panes(1, 0)  # the header row stays in view while scrolling
        if headers:  # a filter button on every header, over all rows
            sheet.autofilter(0, 0, len(frame), len(headers) - 1)
        write_string, write_number, write_datetime = sheet.write_string, sheet.write_number, sheet.write_datetime
        formats = [money if header in MONEY_COLUMNS else None for header in headers]
        for row, values in enumerate(zip(*columns, strict=True), start=1):
            for index, value in enumerate(values):
                kind = type(value)
                if kind is str:
                    write_string(row, index, value)
                elif kind is int or kind is float:
                    write_number(row, index, value, formats[index])
                elif kind is datetime:
                    write_datetime(row, index, value)
                elif value is not None:  # None is a blank cell, which constant-memory mode need not write
                    raise TypeError(f"cannot write {kind.__name__} to a spreadsheet")
    workbook.close()
    return buffer.getvalue()


def write_csv(frame: pd.DataFrame) -> bytes:
    """`frame` as UTF-8 CSV with a byte order mark (so Excel reads accents); every string is neutralised.

    Text is quoted and numbers are not, so numbers stay numbers and a locale that splits on ";" still sees
    one field per cell.
    """
    text = io.StringIO()
    writer = csv.writer(text, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
    writer.writerow([neutralise(str(column)) for column in frame.columns])
    columns = [[v.isoformat(sep=" ", timespec="seconds") if type(v) is datetime else ("" if v is None else v)
                for v in _plain_values(frame[column])] for column in frame.columns]
    writer.writerows(zip(*columns, strict=True))
    return text.getvalue().encode("utf-8-sig")


def _plain_values(series: pd.Series) -> list[Any]:
    """The column's cells as None, int, float, naive datetime or neutralised str (both writers take these)."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return ["Yes" if v else "No" for v in series.tolist()]
    if pd.api.types.is_numeric_dtype(series.dtype):
        return [None if v is None or v is pd.NA or (type(v) is float and math.isnan(v)) else v
                for v in series.tolist()]
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return [None if pd.isna(v) else v.to_pydatetime() for v in series.tolist()]
    return [_plain(v) for v in series.tolist()]


def _plain(value: object) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return neutralise(value) if value else None
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, (numbers.Real, Decimal)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise ValueError("convert times to the event's wall-clock time before exporting them")
        return value.to_pydatetime() if isinstance(value, pd.Timestamp) else value
    return neutralise(format_answer(value))
