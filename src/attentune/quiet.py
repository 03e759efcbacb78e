"""What a user sees is ours: each library's noise turned off with that library's own switch, real warnings kept.

Called by every command (``tasks.cli.run_task``) and in every Ray trial worker, before the libraries run:
- Lightning's informational lines (the ``litlogger`` advert, "GPU available: ...", "Restoring states ...") go to
  its ``rank_zero`` loggers at INFO; those loggers keep WARNING and above. Its warnings (``rank_zero_warn``) are
  Python warnings and stay, except two that say nothing to our users: the ``srun`` hint on a machine that has
  SLURM installed (our SLURM jobs run through ``srun`` or submitit already), and the ``LeafSpec`` deprecation
  inside Lightning's own ``_pytree`` helper (Lightning's code, not the user's).
- W&B prints each run's history and summary at its end: off through its ``quiet`` setting (``WANDB_QUIET``);
  where the run is and how to sync it stay.
- Ray Tune's "Experiment state snapshotting has been triggered multiple times" warning (three lines, once per few
  checkpoints: a study's trials checkpoint every round by design) is off through its own environment variable.
- Ray Tune's per-trial config and result tables (26 lines a trial) and its start-of-study table: a study runs with
  ``verbose=0`` and Ray's classic reporter (``RAY_AIR_NEW_OUTPUT=0``; the new one prints its table even when
  silent), and prints one line per trial of its own (``tuning.results.TrialLines``).
- transformers' "Loading weights" progress bar (MiniLM's weights come from a local package: nothing to wait for)
  is off through Hugging Face's own ``HF_HUB_DISABLE_PROGRESS_BARS``.
- Optuna's "A new study created in memory" goes to its ``optuna.storages`` logger at INFO; it keeps WARNING.
Nothing here imports the libraries: loggers and warning filters are set by name.
"""

from __future__ import annotations

import logging
import os
import warnings

# optuna.storages: Optuna resets its root `optuna` logger to INFO when imported; a child's own level stays
INFO_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero", "optuna.storages")
SILENCED_WARNINGS = (
    r"The `srun` command is available on your system but is not used",
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
)
ENV = {
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    "RAY_AIR_NEW_OUTPUT": "0",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # transformers' "Loading weights" bar (MiniLM's local weights)
    "WANDB_QUIET": "true",  # W&B's own "non-essential output" switch: no history sparklines; the sync hint stays
}


def quiet_libraries() -> None:
    for name in INFO_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in SILENCED_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    for key, value in ENV.items():
        os.environ.setdefault(key, value)
