"""Train / evaluate as plain functions of a composed DictConfig (the CLIs and the tuner call these)."""
