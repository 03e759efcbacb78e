"""Models: our attention encoder (attention, positional, encoder, heads), baselines and pretrained MiniLM.

Import from the modules themselves, e.g. ``from attentune.models.encoder import AttentionClassifier``.
"""
