"""What every task's LightningModule shares (``base.TrainingModule``) and the learning-rate schedules; each task's
own module lives with its task (``tasks/classification/module.py``, ``tasks/qa/module.py``)."""
