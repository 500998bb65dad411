"""Synthetic data in the exact official layouts: video re-ID people in the MARS layout (presets,
layout, people, render) and drawn objects in the CUB layout for image retrieval (retrieval)."""

from reid.data.synthetic.presets import PRESETS, GeneratorParams, preset
from reid.data.synthetic.render import generate

__all__ = ["PRESETS", "GeneratorParams", "generate", "preset"]
