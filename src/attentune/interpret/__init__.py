"""Why a model predicts what it does: attention, rollout, attributions, their faithfulness, head importance."""
