"""Backbones, temporal pooling and the re-ID network."""

from reid.models.backbones import BACKBONES, WeightsUnavailableError, build_backbone
from reid.models.reid_net import ReIDNet, ReIDOutput, build_model
from reid.models.temporal_pooling import POOLINGS

__all__ = ["BACKBONES", "POOLINGS", "ReIDNet", "ReIDOutput", "WeightsUnavailableError", "build_backbone", "build_model"]
