"""A resumed run: state from the checkpoint, optimiser settings from its config (what PBT relies on)."""

from __future__ import annotations

import lightning as L

from attentune.tasks.train import train


class Probe(L.Callback):
    """Records the optimiser and schedule as the first training batch of the run sees them."""

    def __init__(self) -> None:
        self.seen: dict | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.seen is None:
            optimizer = trainer.optimizers[0]
            scheduler = trainer.lr_scheduler_configs[0].scheduler
            self.seen = {
                "groups": [dict(g, params=None) for g in optimizer.param_groups],
                "moments": len(optimizer.state),
                "base_lrs": list(scheduler.base_lrs),
                "factor": scheduler.lr_lambdas[0](scheduler.last_epoch),
                "step": scheduler.last_epoch,
            }


def test_resume_keeps_the_state_but_applies_the_configured_lr_and_weight_decay(cfg_train, tmp_path):
    train(cfg_train("trainer.max_epochs=1", output_dir=tmp_path / "first"))
    ckpt = tmp_path / "first" / "checkpoints" / "best.ckpt"

    probe = Probe()
    mutated = cfg_train(
        "trainer.max_epochs=2", "optimizer.lr=0.0123", "optimizer.weight_decay=0.3", output_dir=tmp_path / "second"
    )
    train(mutated, callbacks=[probe], resume_from=ckpt)
    seen = probe.seen
    assert seen["step"] > 0 and seen["moments"] > 0  # continued: step count and Adam moments restored
    assert seen["base_lrs"] == [0.0123, 0.0123]
    decay, no_decay = seen["groups"]
    assert decay["lr"] == no_decay["lr"] == 0.0123 * seen["factor"]
    assert decay["weight_decay"] == 0.3 and no_decay["weight_decay"] == 0.0
