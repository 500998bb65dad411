"""How frames are stored and read: image/video reading, packed videos, the parsed-index cache."""
