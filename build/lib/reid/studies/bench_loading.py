"""Clips per second: JPEG folders vs packed videos, with 0 and 2 DataLoader workers.

Usage: python tools/bench_loading.py [--preset demo] [--data-dir DIR] [--clips 2000] [--seq-len 8]
Generates the synthetic set (MARS layout) and its packed copy in DIR when missing, then reads
the same clips (restricted random sampling, seeded by clip index) from both and prints a table.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from reid.data import load_dataset
from reid.data.frame_sampling import sample_frames
from reid.data.storage.frame_io import read_frames
from reid.data.storage.packing import pack_dataset
from reid.data.synthetic import generate, preset
from reid.data.tracklet import Tracklet


class ClipReads(Dataset):
    """Item i: the (T, H, W, 3) uint8 frames of clip i (tracklet i mod N, seeded sampling)."""

    def __init__(self, tracklets: list[Tracklet], seq_len: int, clips: int) -> None:
        self.tracklets, self.seq_len, self.clips = tracklets, seq_len, clips

    def __len__(self) -> int:
        return self.clips

    def __getitem__(self, index: int) -> torch.Tensor:
        t = self.tracklets[index % len(self.tracklets)]
        indices = sample_frames("restricted", len(t), self.seq_len, np.random.default_rng(index))
        return torch.from_numpy(np.stack(read_frames(t, indices)))


def clips_per_second(tracklets: list[Tracklet], *, seq_len: int, clips: int, workers: int, batch: int) -> float:
    loader = DataLoader(ClipReads(tracklets, seq_len, clips), batch_size=batch, num_workers=workers,
                        multiprocessing_context="fork" if workers else None)
    start = time.perf_counter()
    n = sum(b.shape[0] for b in loader)
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo", help="synthetic preset (demo: 256x128 frames)")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument("--seq-len", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--codec", default="hfyu")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench_loading_"))
    if not (data_dir / "mars").is_dir():
        generate(data_dir, preset(args.preset), workers=2)
    packed_dir = data_dir / f"packed-synthetic-{args.codec}"
    pack = json.loads((packed_dir / "packed.json").read_text()) if (packed_dir / "packed.json").is_file() else \
        pack_dataset("synthetic", data_dir, packed_dir, codec=args.codec, workers=2)
    sources = {"jpeg": load_dataset("synthetic", data_dir).train,
               "packed": load_dataset("synthetic", packed_dir, packed=True).train}
    results = {f"{kind}/w{w}": clips_per_second(tr, seq_len=args.seq_len, clips=args.clips, workers=w,
                                                batch=args.batch_size)
               for w in args.workers for kind, tr in sources.items()}
    lines = [f"preset {args.preset}, {args.clips} clips of {args.seq_len} frames, batch {args.batch_size}, "
             f"codec {pack['codec']} (max pixel error {pack['max_pixel_error']}, "
             f"{pack['bytes'] / 1e6:.1f} MB vs {pack['source_bytes'] / 1e6:.1f} MB of JPEG)",
             f"{'workers':>8}{'jpeg clips/s':>14}{'packed clips/s':>16}{'packed/jpeg':>13}"]
    for w in args.workers:
        jpeg, packed = results[f"jpeg/w{w}"], results[f"packed/w{w}"]
        lines.append(f"{w:>8}{jpeg:>14.1f}{packed:>16.1f}{packed / jpeg:>13.2f}")
    sys.stdout.write("\n".join(lines) + "\n")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "pack": pack, "args": vars(args)}, default=str, indent=2))
    return 0
