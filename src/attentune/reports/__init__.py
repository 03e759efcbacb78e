"""Leaderboards, plots and HTML reports from finished runs (no ray, no training)."""
