"""A model of any family as an ONNX graph (``torch.onnx.export(dynamo=True)``), and its int8 twin.

The graph is the model contract's forward: ``input_ids`` and ``attention_mask`` (span heads also take
``token_type_ids``) -> ``logits``, with the batch and the sequence length as dynamic axes. Everything around the
model (tokenization, softmax, span decoding) stays in the task's Python code, shared by both backends.
"""

from __future__ import annotations

import logging
import multiprocessing
import warnings
from pathlib import Path

import torch
from torch import nn

from attentune.errors import ConfigError

OPSET = 18


def export_graph(model: nn.Module, file: Path, span: bool, family: str) -> None:
    """Write ``model`` (eval mode) to ``file``; ``span``: a span head, whose graph also takes ``token_type_ids``.
    A family the exporter cannot trace is a one-line error that names it and the exporter's reason.

    A BiLSTM exported after another BiLSTM in the same process comes out with its sequence axis fixed to the
    example's length (the exporter keeps something of the first trace; seen with torch 2.13): a graph with a fixed
    axis is exported again in a fresh process (``spawn``), and refused if it is still fixed."""
    _export(model, file, span, family)
    fixed = _static_axes(file)
    if fixed:
        logging.getLogger(__name__).info("export: %s: fixed sizes (%s); again in a fresh process", family, fixed)
        child = multiprocessing.get_context("spawn").Process(target=_export, args=(model, file, span, family))
        child.start()
        child.join()
        fixed = _static_axes(file) if child.exitcode == 0 else f"the fresh process exited {child.exitcode}"
    if fixed:
        raise ConfigError(f"export: the {family} graph came out with fixed sizes ({fixed})")


def _export(model: nn.Module, file: Path, span: bool, family: str) -> None:
    model = model.eval()
    B, T = 2, 16  # sizes 0 and 1 would be specialised; 2 and 16 stay symbolic
    ids = torch.full((B, T), 5, dtype=torch.long)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[1, T // 2 :] = False  # a padded row: the graph must keep its masking
    kwargs = {"token_type_ids": torch.zeros(B, T, dtype=torch.long)} if span else {}
    batch, length = torch.export.Dim("batch"), torch.export.Dim("sequence")
    axes = {0: batch, 1: length}
    shapes = {"input_ids": axes, "attention_mask": axes} | ({"token_type_ids": axes} if span else {})
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if span else [])
    try:
        with warnings.catch_warnings(), _quiet_exporter():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model,
                (ids, mask),
                kwargs=kwargs,
                dynamo=True,
                dynamic_shapes=shapes,
                input_names=names,
                output_names=["logits"],
                opset_version=OPSET,
                verbose=False,
            )
    except Exception as exc:  # noqa: BLE001 - the exporter's many error types: say which family and why
        reason = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ConfigError(f"export: model={family} cannot be exported to ONNX: {reason[:300]}") from None
    program.save(str(file))


def _static_axes(file: Path) -> str:
    """The graph's inputs whose batch or sequence axis is a number rather than a name, as ``name[axis]=size``."""
    import onnx

    graph = onnx.load(str(file), load_external_data=False).graph
    fixed = []
    for value in graph.input:
        for axis, dim in enumerate(value.type.tensor_type.shape.dim[:2]):
            if not dim.dim_param:
                fixed.append(f"{value.name}[{axis}]={dim.dim_value}")
    return ", ".join(fixed)


def quantize_int8(fp32: Path, int8: Path) -> None:
    """onnxruntime's dynamic quantization: int8 weights of MatMul/Gemm (and LSTM), activations quantized per batch."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # it logs every tensor it leaves alone, and advice, on the root logger
    try:
        quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)


class _quiet_exporter:  # noqa: N801 - a context manager, used like open()
    """The exporter prints its progress (✅ lines) through logging and stdout: keep a command's output to its own."""

    def __enter__(self) -> None:
        self.level = logging.getLogger("torch.onnx").level
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("torch.onnx").setLevel(self.level)
