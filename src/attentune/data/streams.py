"""A user's table (.csv / .tsv / .jsonl / .parquet) read in chunks of rows, and one written back in a chosen format.

``predict.py`` streams a file through a model this way: memory follows the chunk, not the file. Every column of
the input is kept, in order, as read (strings for .csv/.tsv, so an id "007" stays "007"; JSON values; Arrow types
for parquet, whose schema the output keeps). A written table goes to a temporary file next to its destination and
replaces it only once complete, so a failure leaves an earlier file untouched and no partial one.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from attentune.data.tables import DELIMITERS, check_table_file, read_jsonl_lines, warn_if_not_utf8
from attentune.errors import ConfigError, DataError

Row = tuple[str, dict[str, Any]]  # (where it is, for messages: "line 12"; its values by column)


@dataclass
class TableReader:
    """The columns of a table file and its rows, chunk by chunk (``chunks``)."""

    path: Path
    key: str  # the config entry that named the file (``input``), for messages
    delimiter: str | None = None
    format: str = ""
    columns: list[str] = field(default_factory=list)
    schema: pa.Schema | None = None  # parquet
    num_rows: int | None = None  # when the file says (parquet)

    def __post_init__(self) -> None:
        self.format = check_table_file(self.path, self.key)
        if self.format == "parquet":
            try:
                meta = pq.ParquetFile(self.path).metadata
            except (pa.ArrowException, OSError) as e:
                raise DataError(f"{self.key}: cannot read {self.path} as parquet: {' '.join(str(e).split())}") from None
            self.schema, self.num_rows = meta.schema.to_arrow_schema(), meta.num_rows
            self.columns = list(self.schema.names)
        elif self.format == "jsonl":
            warn_if_not_utf8(self.path, self.key)
            self.columns = list(next(self._jsonl(), ("", {}))[1])  # the first object's keys; others may add some
        else:
            warn_if_not_utf8(self.path, self.key)
            with self.path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
                header = next(csv.reader(f, delimiter=self._delimiter()), None)
            self.columns = [name.strip() for name in header or []]
        if not self.columns:
            raise DataError(f"{self.key}: {self.path} is empty")

    def require(self, columns: dict[str, str]) -> None:
        """Fail in one line, listing the file's columns, when one of ``columns`` (config key -> column) is missing."""
        for key, column in columns.items():
            if column not in self.columns:
                raise DataError(
                    f"{key}: column {column!r} not found in {self.path}; available columns: {', '.join(self.columns)}"
                )

    def chunks(self, rows: int) -> Iterator[list[Row]]:
        """The table's rows, ``rows`` at a time (the last chunk may be shorter)."""
        source = {"parquet": self._parquet, "jsonl": self._jsonl}.get(self.format, self._delimited)()
        chunk: list[Row] = []
        for row in source:
            chunk.append(row)
            if len(chunk) == rows:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _delimiter(self) -> str:
        return self.delimiter or DELIMITERS[self.format]

    def _delimited(self) -> Iterator[Row]:
        csv.field_size_limit(2**31 - 1)
        with self.path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
            reader = csv.reader(f, delimiter=self._delimiter())
            try:
                next(reader)  # the header
                for values in reader:
                    if not values:
                        continue
                    if len(values) != len(self.columns):
                        raise DataError(
                            f"{self.key}: {self.path} line {reader.line_num}: {len(values)} fields where the header "
                            f"has {len(self.columns)}; is there an unquoted {self._delimiter()!r} in a text?"
                        )
                    yield f"line {reader.line_num}", dict(zip(self.columns, values, strict=True))
            except csv.Error as e:
                raise DataError(f"{self.key}: cannot parse {self.path} line {reader.line_num}: {e}") from None

    def _jsonl(self) -> Iterator[Row]:
        for line, record in read_jsonl_lines(self.path, self.key):
            yield f"line {line}", record

    def _parquet(self) -> Iterator[Row]:
        done = 0
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=8192):
            for i, record in enumerate(batch.to_pylist()):
                yield f"row {done + i + 1}", record
            done += batch.num_rows


ARROW = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_()}


class TableWriter:
    """Rows written to ``path`` in its format (by extension): ``columns`` first, in order, then ``added`` (their
    Python types). ``path=None``: to stdout, in ``format`` (not parquet). ``schema`` (a parquet input's) keeps the
    input columns' Arrow types in a parquet output. Use as a context manager: the file appears only when the block
    ends without an error.
    """

    def __init__(
        self,
        path: Path | None,
        key: str,
        columns: list[str],
        added: dict[str, type],
        schema: pa.Schema | None = None,
        delimiter: str | None = None,
        format: str = "jsonl",
    ) -> None:
        self.path, self.columns = path, columns + [c for c in added if c not in columns]
        self.format = format if path is None else check_table_file(path, key, must_exist=False)
        if path is None and self.format == "parquet":
            raise ConfigError(f"{key}: parquet is not printed; give {key}=<file>")
        self.tmp = None if path is None else path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.delimiter = delimiter or DELIMITERS.get(self.format)
        fields = [schema.field(c) if schema is not None and c in schema.names else None for c in columns]
        self.schema = pa.schema(
            [f if f is not None else pa.field(c, pa.string()) for c, f in zip(columns, fields, strict=True)]
            + [pa.field(c, ARROW[t]) for c, t in added.items() if c not in columns]
        )
        self._file: Any = None
        self._writer: Any = None

    def __enter__(self) -> TableWriter:
        if self.tmp is not None:
            self.tmp.parent.mkdir(parents=True, exist_ok=True)
        if self.format == "parquet":
            self._writer = pq.ParquetWriter(self.tmp, self.schema)
        else:
            self._file = sys.stdout if self.tmp is None else self.tmp.open("w", encoding="utf-8", newline="")
            if self.format != "jsonl":
                self._writer = csv.writer(self._file, delimiter=self.delimiter)
                self._writer.writerow(self.columns)
        return self

    def write(self, records: list[dict[str, Any]]) -> None:
        if self.format == "parquet":
            table = pa.Table.from_pylist([{c: r.get(c) for c in self.columns} for r in records], schema=self.schema)
            self._writer.write_table(table)
        elif self.format == "jsonl":
            self._file.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        else:
            self._writer.writerows([_cell(r.get(c)) for c in self.columns] for r in records)

    def __exit__(self, kind: Any, *_: Any) -> None:
        if self.tmp is None:
            self._file.flush()
            return
        (self._writer if self.format == "parquet" else self._file).close()
        if kind is None:
            self.tmp.replace(self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def _cell(value: Any) -> Any:
    """A value as a .csv/.tsv cell: missing is empty, a nested value is JSON."""
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value
