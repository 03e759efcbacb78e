"""The TF-IDF reference exported: its fitted vectorizer and its linear SVM as a second, ONNX graph.

skl2onnx converts word n-gram TF-IDF only (``CountVectorizer cannot be converted, only tokenizer='word' is fully
supported``); the reference also counts character n-grams (``char_wb``). So the vectorizer stays scikit-learn's own
(``vectorizer.joblib``: a pickle, load only exports you made) and the classifier becomes ``linear.onnx``:
``scores = features @ W^T + b``, the SVM's decision function, which the ensemble's softmax (with the reference's
fitted temperature) turns into probabilities exactly as in training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from attentune.serving.exported import LABELS, session
from attentune.tasks.classification.reference import ReferenceModel

VECTORIZER, LINEAR, SPEC = "vectorizer.joblib", "linear.onnx", "reference.json"
CHUNK = 256  # texts vectorised at a time: the dense feature rows are wide (one column per n-gram)


def export_reference(model: ReferenceModel, out: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    features, svm = model.pipeline[0], model.pipeline[-1]
    out.mkdir(parents=True)
    joblib.dump(features, out / VECTORIZER)
    weights = np.ascontiguousarray(svm.coef_.T, dtype=np.float32)  # (F, C'): C' = 1 for two classes
    bias = np.asarray(svm.intercept_, dtype=np.float32)  # (C',)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["scores"])],
        "tfidf_linear_svm",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", weights.shape[0]])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", weights.shape[1]])],
        [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "b")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), out / LINEAR)
    (out / LABELS).write_text(json.dumps(model.label_names, ensure_ascii=False) + "\n")
    (out / SPEC).write_text(json.dumps({"temperature": model.temperature}) + "\n")


class OnnxReference(ReferenceModel):
    """The reference with its decision function in onnxruntime."""

    def __init__(self, features: Any, graph: Any, label_names: list[str], temperature: float) -> None:
        super().__init__(None, label_names, temperature)
        self.features, self.graph = features, graph

    def logits(self, texts: list[str]) -> np.ndarray:
        """Shapes: (N, C) scores (two classes: (0, s), as ``ReferenceModel.logits``)."""
        parts = [np.zeros((0, self.graph.get_outputs()[0].shape[-1]), dtype=np.float32)]
        for i in range(0, len(texts), CHUNK):
            x = self.features.transform(list(texts[i : i + CHUNK])).toarray().astype(np.float32)
            parts.append(self.graph.run(None, {"features": x})[0])
        scores = np.concatenate(parts).astype(np.float64)
        return np.concatenate([np.zeros_like(scores), scores], axis=1) if scores.shape[1] == 1 else scores


def load_reference(path: Path) -> OnnxReference:
    spec = json.loads((path / SPEC).read_text())
    labels = json.loads((path / LABELS).read_text())
    return OnnxReference(joblib.load(path / VECTORIZER), session(path / LINEAR), labels, float(spec["temperature"]))
