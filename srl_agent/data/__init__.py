"""Expert trajectories → step-wise SRL instances (prompts, targets) and dataset statistics."""
