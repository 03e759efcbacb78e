"""``predict(cfg)``: a checkpoint's predictions for inputs on the command line, or for a user's table file.

The checkpoint's task says which fields an input needs (classification: ``text``; qa: ``question`` and
``context``) and which it adds (``pred`` and ``prob_<label>``; ``answer``, ``answer_start``, ``score``,
``no_answer``). Inputs for another task are a one-line error. A file (``input=`` .csv/.tsv/.jsonl/.parquet, read
as ``data=csv`` reads them, ``text_column=`` as there) is streamed in chunks, so memory does not grow with it: each
output row is its input row, every column kept in order, with the predicted columns after them, in the format of
``output=`` (by its extension; without ``output``, .csv/.tsv/.jsonl go to stdout in the input's format). An
existing output file is refused unless ``overwrite=true``; the output appears only once every row is predicted,
so a bad row (named by its line) leaves no partial file and an earlier one untouched.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from attentune.data.streams import TableReader, TableWriter
from attentune.errors import ConfigError, DataError
from attentune.serving.predictor import FIELDS, Predictor, check_backend, check_record, load_predictor


def predict(cfg: DictConfig) -> list[dict[str, Any]] | dict[str, Any]:
    """Command-line inputs: their output records (also printed as JSON lines, or written to ``output``).
    A file: streamed to ``output`` (or stdout); returns ``{"rows", "seconds", "rows_per_s", "output"}``."""
    given = {f: cfg.get(f) for f in FIELDS if cfg.get(f) is not None}
    if cfg.input and given:
        raise ConfigError(f"give input=<file> or {'/'.join(given)}=..., not both")
    out = Path(cfg.output) if cfg.output else None
    if out is not None and out.exists() and not cfg.get("overwrite", False):
        raise ConfigError(f"output: {out} exists; choose another file or pass overwrite=true to replace it")
    reader = TableReader(Path(cfg.input), "input", cfg.get("delimiter")) if cfg.input else None
    if reader is not None and out is None and reader.format == "parquet":
        raise ConfigError("output: a parquet input needs output=<file>; its predictions are not printed")
    backend, quantize = cfg.get("backend", "torch"), cfg.get("quantize")
    check_backend(backend, quantize)
    if cfg.get("benchmark"):
        from attentune.serving.benchmark import benchmark

        return benchmark(cfg)
    model = load_predictor(cfg.ckpt_path, int(cfg.batch_size), backend, quantize)
    try:
        return _predict(cfg, model, given, reader, out)
    finally:
        model.close()


def _predict(cfg: DictConfig, model: Predictor, given: dict, reader: TableReader | None, out: Path | None) -> Any:
    if reader is None:
        check_record(given, model.inputs, model.task, "the command line")
        records = [given | p for p in model.predict([given])]
        if out is None:
            print("\n".join(json.dumps(r, ensure_ascii=False) for r in records))
        else:
            with TableWriter(out, "output", list(given), model.outputs) as writer:
                writer.write(records)
        return records
    return stream(reader, out, model, cfg)


def stream(reader: TableReader, out: Path | None, model: Predictor, cfg: DictConfig) -> dict[str, Any]:
    columns = {f: str(cfg.get(f"{f}_column") or f) for f in model.inputs}  # field -> the file's column
    reader.require({f"{field}_column": column for field, column in columns.items()})
    clash = [c for c in model.outputs if c in reader.columns]
    if clash:
        raise DataError(f"input: {reader.path} already has the column {clash[0]!r} that predictions add; rename it")
    writer = TableWriter(
        out, "output", reader.columns, model.outputs, reader.schema, cfg.get("delimiter"), format=reader.format
    )
    start, rows = time.time(), 0
    with progress(reader.num_rows) as advance, writer:
        for chunk in reader.chunks(int(cfg.chunk_rows)):
            inputs = []
            for where, row in chunk:
                record = {f: row.get(column) for f, column in columns.items()}
                named = f" (id {row['id']})" if row.get("id") is not None else ""
                check_record(record, model.inputs, model.task, f"{reader.path}: {where}{named}")
                inputs.append(record)
            writer.write([row | p for (_, row), p in zip(chunk, model.predict(inputs), strict=True)])
            rows += len(chunk)
            advance(len(chunk))
        if rows == 0:
            raise DataError(f"input: {reader.path} has no rows")
    seconds = max(time.time() - start, 1e-9)
    if out is not None:
        print(f"predict: {rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s) -> {out}", file=sys.stderr)
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds, 1), "output": str(out)}


class progress:  # noqa: N801 - a context manager, used like open()
    """A rich progress bar (rows and rows/s) on stderr when it is a terminal; nothing otherwise."""

    def __init__(self, total: int | None) -> None:
        self.total, self.bar = total, None

    def __enter__(self) -> Callable[[int], None]:
        if not sys.stderr.isatty():
            return lambda n: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TimeElapsedColumn
        from rich.text import Text

        class RowsPerSecond(ProgressColumn):
            def render(self, task: Any) -> Text:
                return Text(f"{task.speed or 0:,.0f} rows/s")

        self.bar = Progress(
            BarColumn(), MofNCompleteColumn(), RowsPerSecond(), TimeElapsedColumn(), console=Console(stderr=True)
        )
        self.bar.__enter__()
        task = self.bar.add_task("predict", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
