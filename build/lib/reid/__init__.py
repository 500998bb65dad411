"""Video person re-identification with OSM+CAA (Wang et al., AAAI 2019)."""

__version__ = "0.1.0"
