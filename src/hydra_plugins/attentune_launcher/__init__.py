"""attentune's Hydra launchers (Hydra finds launcher plugins only in the hydra_plugins namespace)."""
