"""Studies as SLURM jobs (``hydra/launcher=slurm``): hydra-submitit-launcher, with every job's outcome reported.

hydra-submitit-launcher 1.2.0 waits for the jobs in order and raises at the first one that failed: the jobs
after it are never collected, and Hydra then skips ``on_multirun_end`` (no leaderboard). A job that SLURM
ended (time limit, out of memory, ``scancel``) leaves no result at all, and submitit looks at ``sacct`` less
and less often (up to every 10 minutes). Here every job is waited for, ``sacct`` is asked every ``poll_s``
seconds, and a job that raised or was ended is logged with its error and recorded in its study directory as a
failed study; selection then runs over the studies that finished, and the command exits 1.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititSlurmLauncher
from omegaconf import OmegaConf, open_dict

log = logging.getLogger(__name__)


class SlurmLauncher(SubmititSlurmLauncher):
    def __init__(self, poll_s: float = 10.0, **params: Any) -> None:
        super().__init__(**params)
        self.poll_s = float(poll_s)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        state = Singleton.get_state()
        args = [
            (list(o), "hydra.sweep.dir", initial_job_idx + i, f"job_id_for_{initial_job_idx + i}", state)
            for i, o in enumerate(job_overrides)
        ]
        jobs = self._executor().map_array(self, *zip(*args, strict=True))  # self.__call__ runs in each job
        for job, overrides in zip(jobs, job_overrides, strict=True):
            log.info("study job %s: %s", job.job_id, " ".join(filter_overrides(overrides)))
        return [
            self._outcome(job, list(overrides), initial_job_idx + i)
            for i, (job, overrides) in enumerate(zip(jobs, job_overrides, strict=True))
        ]

    def _executor(self) -> Any:
        """The executor the plugin would build from the launcher's settings (``conf/hydra/launcher/slurm.yaml``)."""
        import submitit

        params = dict(self.params)
        executor = submitit.AutoExecutor(
            folder=params.pop("submitit_folder"), cluster="slurm", slurm_max_num_timeout=params.pop("max_num_timeout")
        )
        shared = set(OmegaConf.structured(BaseQueueConf).keys())  # the others are sbatch's: slurm_<name>
        executor.update_parameters(**{k if k in shared else f"slurm_{k}": v for k, v in params.items()})
        return executor

    def _outcome(self, job: Any, overrides: list[str], idx: int) -> JobReturn:
        while not job.done(force_check=True):  # one sacct call answers for every job of the array
            time.sleep(self.poll_s)
        try:
            return job.results()[0]
        except Exception as exc:  # noqa: BLE001  FailedJobError (it raised), UncompletedJobError (SLURM ended it)
            reason = _reason(f"{exc}\n{job.stderr() or ''}", job.state)
            log.error("study job %s (%s) failed: %s", job.job_id, " ".join(overrides), reason)
            self._record_failure(overrides, idx, f"job {job.job_id} {job.state}: {reason}")
            return JobReturn(overrides=overrides, status=JobStatus.COMPLETED, _return_value=None)

    def _record_failure(self, overrides: list[str], idx: int, reason: str) -> None:
        """Write the failed study's entry where its job would have written its results."""
        from attentune.tuning.study import failed_study  # here: Hydra imports every plugin at each start

        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(cfg.hydra.job):
            cfg.hydra.job.num = idx
        sweep = HydraConfig.instance().cfg  # resolving ${hydra:...} in the job's config needs its hydra node
        HydraConfig.instance().set_config(cfg)
        try:
            out = Path(cfg.hydra.sweep.dir) / str(cfg.hydra.sweep.subdir)
            failed_study(cfg, out, reason)
        finally:
            HydraConfig.instance().cfg = sweep


def _reason(text: str, state: str) -> str:
    """The job's own error: its last ``error: ...`` line (a user error), else the last ``SomeError: ...`` line
    of its traceback, else SLURM's state (TIMEOUT, OUT_OF_MEMORY, CANCELLED: the job was ended from outside)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for pick in (lambda ln: ln.startswith("error: "), lambda ln: ln.split(":")[0].endswith(("Error", "Exception"))):
        found = [ln for ln in lines if pick(ln)]
        if found:
            return found[-1][:300]
    return f"ended by SLURM ({state})"
