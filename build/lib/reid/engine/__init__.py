"""Training loop, checkpoints and feature extraction."""
