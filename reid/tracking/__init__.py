"""Re-ID inside tracking: link the tracks of one person across gaps, occlusions, exits and cameras.

- linking.py: constrained agglomerative linking of tracks from their embedding distances (pure
  numpy: never merges two tracks of one camera that overlap in time) and MOT file rewriting.
- embedding.py: crop every track of a video and embed it as one tracklet with a re-ID model.

This folder comes after the model and the evaluation functions in the project's flow: it may
import reid.errors, reid.data, reid.models, reid.engine and reid.eval's distance and re-ranking
functions; not reid.pipeline (which wires runs from configs: tools/link_tracks.py does that).
"""

from reid.tracking.linking import TrackSpan, link_tracks, relabel_mot, time_conflicts, track_distances

__all__ = ["TrackSpan", "link_tracks", "relabel_mot", "time_conflicts", "track_distances"]
