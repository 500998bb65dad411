"""Path helpers shared by the dataset parsers: root resolution and escape-proof joins."""

from __future__ import annotations

import os
from pathlib import Path

from reid.errors import DatasetError


def is_id(text: str) -> bool:
    """True for a non-empty run of ASCII digits (``str.isdigit`` also accepts characters such as
    superscripts that ``int`` refuses)."""
    return text.isascii() and text.isdigit()


def resolve_dataset_dir(root: str | os.PathLike, folder: str, marker: str) -> Path:
    """Find a dataset's own folder.

    ``root`` may be the dataset folder itself (it contains ``marker``) or its parent holding a
    folder named ``folder`` in any case (torchreid's naming), so existing trees work unchanged.

    Raises:
        DatasetError: neither ``root/marker`` nor ``root/<folder, any case>/marker`` exists.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"dataset root {root} does not exist or is not a folder")
    if (root / marker).exists():
        return root
    for child in sorted(root.iterdir()):
        if child.is_dir() and child.name.lower() == folder.lower() and (child / marker).exists():
            return child
    raise DatasetError(
        f"no {folder} dataset under {root}: expected {root / marker} or {root / folder / marker}"
    )


def safe_join(root: Path, relative: str, *, source: str) -> Path:
    """Join ``relative`` under ``root``, refusing absolute paths and any ``..`` component.

    Args:
        root: the folder nothing may escape.
        relative: a name read from a dataset file.
        source: the file the name came from, for the error message.
    """
    rel = relative.replace("\\", "/")
    if rel.startswith("/") or Path(rel).is_absolute() or ".." in rel.split("/"):
        raise DatasetError(
            f"{source}: path {relative!r} is absolute or contains '..'; "
            f"only names inside {root} are accepted"
        )
    return root / rel
