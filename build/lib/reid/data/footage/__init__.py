"""Own footage: tracklets cropped from videos with MOT tracks, and gallery folders for search."""
