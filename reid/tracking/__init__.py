"""Re-ID for trackers: link the tracks of one person across gaps, occlusions, exits and cameras,
and turn crops into embeddings for any tracker.

- linking.py: constrained agglomerative linking of tracks from their embedding distances (pure
  numpy: never merges two tracks of one camera that overlap in time) and MOT file rewriting.
- embedding.py, videos.py: crop every track of a video and embed it as one tracklet.
- embedder.py: crops (arrays or files) to L2-normalised embeddings, from a checkpoint or its
  image export (``osmcaa-reid export --image``).

It loads trained models the way a run does, so it sits above ``reid.pipeline`` and may import
everything below it; ``reid.studies`` and ``reid.cli`` import it.
"""

from reid.tracking.linking import TrackSpan, link_tracks, relabel_mot, time_conflicts, track_distances

__all__ = ["TrackSpan", "link_tracks", "relabel_mot", "time_conflicts", "track_distances"]
