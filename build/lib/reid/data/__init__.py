"""Datasets, temporal sampling, batch samplers and transforms.

``load_dataset(name, root, split_id=0)`` is the public entry point; the names it accepts are the
keys of ``DATASETS``. Layout of the package:

- ``datasets/``: one parser per benchmark layout (MARS, iLIDS-VID, PRID-2011, DukeMTMC-VideoReID,
  LPW, CUB-200-2011, CARS196, own-footage and class folders) and the PRID split files;
- ``synthetic/``: generated data in the official layouts (MARS-layout people, CUB-layout objects);
- ``footage/``: own footage: tracklets cropped from videos by MOT tracks, search gallery folders;
- ``storage/``: reading frames (images, videos), packed videos, the parsed-index cache;
- here: the tracklet format, temporal sampling, the identity sampler, transforms, clip datasets
  and dataset validation.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from reid.data.tracklet import Tracklet, VideoReIDDataset
from reid.errors import DatasetError

# name -> (module, loader function). Each loader is ``fn(root, split_id=0, **options)`` and returns
# a VideoReIDDataset. Modules are imported on first use so that loading MARS does not import the
# parsers of every other dataset.
DATASETS: dict[str, tuple[str, str]] = {
    "mars": ("reid.data.datasets.mars", "load_mars"),
    "synthetic": ("reid.data.datasets.mars", "load_synthetic"),
    "ilidsvid": ("reid.data.datasets.ilidsvid", "load_ilidsvid"),
    "prid2011": ("reid.data.datasets.prid2011", "load_prid2011"),
    "dukev": ("reid.data.datasets.dukev", "load_dukev"),
    "folder": ("reid.data.datasets.folder", "load_folder"),
    "lpw": ("reid.data.datasets.lpw", "load_lpw"),
    "cub": ("reid.data.datasets.cub", "load_cub"),
    "cars196": ("reid.data.datasets.cars196", "load_cars196"),
    "images": ("reid.data.datasets.images", "load_images"),
    "synthetic_retrieval": ("reid.data.datasets.cub", "load_synthetic_retrieval"),
}

# Image-retrieval sets (reid/data/datasets/image_sets.py): one image per sample, query = gallery
# = the test images, evaluated with ``eval.protocol: retrieval``.
RETRIEVAL_DATASETS = frozenset({"cub", "cars196", "images", "synthetic_retrieval"})
# The sets whose loader takes ``crop_box`` (``none`` | ``bbox``): they come with bounding boxes.
BOX_DATASETS = frozenset({"cub", "cars196", "synthetic_retrieval"})


def load_dataset(name: str, root: str | os.PathLike, split_id: int = 0, **options: Any) -> VideoReIDDataset:
    """Load a dataset from its official on-disk layout.

    Args:
        name: one of ``DATASETS``: video re-ID (``mars``, ``synthetic``, ``ilidsvid``, ``prid2011``,
            ``dukev``, ``lpw``, ``folder``) or image retrieval (``cub``, ``cars196``, ``images``,
            ``synthetic_retrieval``; ``RETRIEVAL_DATASETS``), whose query and gallery are both
            the test images.
        root: the dataset folder itself, or the folder that holds it.
        split_id: which of the dataset's standard splits (iLIDS-VID, PRID-2011: 0..9).
        **options: parser-specific options (``crop_box="bbox"`` for ``BOX_DATASETS``), plus three
            handled here and never passed to the parser: ``cache`` (bool, default True: reuse
            the tracklet index cached under ``cache_dir``, rebuilt whenever the source files
            or a file named by an option, such as PRID-2011 ``split_file``, change; see
            reid/data/storage/index_cache.py),
            ``cache_dir`` (default ``$REID_CACHE_DIR`` or ``~/.cache/osmcaa-reid/index``) and
            ``packed`` (bool, default False: ``root`` is a folder written by
            data_prep/pack_videos.py, or holds ``packed-<name>``).

    Returns:
        A VideoReIDDataset with ``train``, ``query`` and ``gallery`` tracklet lists.
    """
    key = name.lower()
    if key not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}")
    use_cache = bool(options.pop("cache", True))
    cache_dir = options.pop("cache_dir", None)
    if options.pop("packed", False):
        from reid.data.storage.packing import load_packed

        if options:
            raise DatasetError(f"packed {key} takes no parser options; got {', '.join(sorted(options))}")
        return load_packed(key, root, split_id)
    module_name, fn_name = DATASETS[key]
    loader = getattr(importlib.import_module(module_name), fn_name)
    if not use_cache:
        return loader(root, split_id=split_id, **options)
    from reid.data.storage.index_cache import cached_load, parser_fingerprint

    return cached_load(key, root, split_id, options, lambda: loader(root, split_id=split_id, **options),
                       cache_dir=cache_dir, code=parser_fingerprint(module_name))


__all__ = ["BOX_DATASETS", "DATASETS", "RETRIEVAL_DATASETS", "Tracklet", "VideoReIDDataset", "load_dataset"]
