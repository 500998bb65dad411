"""Re-ID for trackers: crops to embeddings (``embedder``) with a trained checkpoint or its image export.

It loads trained models the way a run does, so it sits above ``reid.pipeline`` and may import
everything below it; only ``reid.cli`` imports it.
"""
