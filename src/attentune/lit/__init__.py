"""LightningModules, one per task family."""

from attentune.lit.classification import ClassificationModule

__all__ = ["ClassificationModule"]
