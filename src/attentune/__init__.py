"""attentune: AutoML for self-attention text models."""

__version__ = "0.1.0"
