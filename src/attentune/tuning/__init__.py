"""Hyperparameter / architecture search and model selection on Ray Tune (the only package importing ray)."""
