"""Search a gallery of tracklets: embed it once (index), extend it (add), query it many times (query).

usage:
  search index --checkpoint RUN/model.pt --gallery DIR --out INDEX [--faiss ivf|hnsw] [--nlist N]
               [--nprobe N] [--hnsw-m M] [--ef-search N]
  search index --checkpoint RUN/model.pt --dataset mars --root /data --split gallery --out INDEX
  search add   --index INDEX --checkpoint RUN/model.pt --gallery DIR
  search query --index INDEX --checkpoint RUN/model.pt --tracklet CROPS_DIR [--topk 10] [--rerank]
  search query --index INDEX --checkpoint RUN/model.pt --video V --tracks MOT.txt --track-id N [--out DIR]

--gallery DIR: the own-footage layout (<pid>/<camid>_<tracklet>/, optionally under train/, query/,
gallery/), an unlabelled folder of tracklet folders (<tracklet>/<frame>.jpg), or a packed folder
(packed.json): every tracklet in it, or those of --split. The model is built as the checkpoint's
saved config says; data.* and eval.* overrides apply (eval.metric is the index's distance).
query prints the top-k and writes results.json and strip.png (and a video query's crops) into
--out, else into a new query-<time>/ folder beside the checkpoint.
"""

import argparse
import os
import sys

from reid.cli.common import base_parser, parse_for_checkpoint
from reid.data.datasets.folder import SPLITS
from reid.data.footage.gallery import load_dataset_split, load_gallery_folder
from reid.errors import ConfigError
from reid.search.build import add_to_index, build_index
from reid.search.faiss_index import FAISS_KINDS
from reid.search.query import search

COMMANDS = ("index", "add", "query")


def _parser(command: str) -> argparse.ArgumentParser:
    parser = base_parser(__doc__)
    parser.prog = f"{os.path.basename(sys.argv[0])} {command}"
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--checkpoint", required=True, help="model.pt or a checkpoint of the run")
    if command == "index":
        parser.add_argument("--out", required=True, help="the index folder to create")
        parser.add_argument("--faiss", choices=FAISS_KINDS, help="also build an approximate FAISS index")
        parser.add_argument("--nlist", type=int, default=0, help="IVF lists (default about 4 sqrt(N))")
        parser.add_argument("--nprobe", type=int, default=0, help="IVF lists scanned per query "
                            "(default max(8, nlist/20))")
        parser.add_argument("--hnsw-m", type=int, default=32, help="HNSW links per node (default 32)")
        parser.add_argument("--ef-search", type=int, default=64, help="HNSW candidates per query (default 64)")
    else:
        parser.add_argument("--index", required=True, help="an index folder made by 'search index'")
    if command in ("index", "add"):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--gallery", help="a folder of tracklets (layouts above)")
        source.add_argument("--dataset", help="a dataset name (with --root and --split)")
        parser.add_argument("--root", help="the dataset root, with --dataset")
        parser.add_argument("--split", choices=SPLITS, help="this split only (--dataset: default gallery)")
        parser.add_argument("--packed", action="store_true", help="--root holds the packed dataset")
    if command == "add":
        parser.set_defaults(out=None)
    if command == "query":
        query = parser.add_mutually_exclusive_group(required=True)
        query.add_argument("--tracklet", help="a folder of crops of one person")
        query.add_argument("--video", help="a video; the query is one track of --tracks")
        parser.add_argument("--tracks", help="MOT tracks file of --video: frame,id,x,y,w,h,...")
        parser.add_argument("--track-id", type=int, help="the track id of the person in --tracks")
        parser.add_argument("--topk", type=int, default=10, help="results to list (default 10)")
        parser.add_argument("--rerank", action="store_true", help="k-reciprocal re-ranking (exact features)")
        parser.add_argument("--rerank-pool", type=int, default=2000,
                            help="re-rank among this many exact nearest (default 2000)")
        parser.add_argument("--exact", action="store_true", help="exact search even if the index has FAISS")
        parser.add_argument("--out", help="output folder (default: query-<time>/ beside the checkpoint)")
    return parser


def _gallery(args: argparse.Namespace) -> list:
    if args.gallery:
        return load_gallery_folder(args.gallery, [args.split] if args.split else None)
    if not args.root:
        raise ConfigError("--dataset needs --root (and optionally --split, --packed)")
    return load_dataset_split(args.dataset, args.root, args.split or "gallery", packed=args.packed)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        if argv and argv[0] in ("-h", "--help"):
            print(__doc__)
            return
        raise ConfigError(f"expected a command first: {', '.join(COMMANDS)} (--help lists them)")
    command = argv[0]
    args, cfg = parse_for_checkpoint(_parser(command), argv[1:], kind=command)
    if command == "index":
        report = build_index(cfg, args.checkpoint, _gallery(args), args.out, faiss=args.faiss, nlist=args.nlist,
                             nprobe=args.nprobe, hnsw_m=args.hnsw_m, ef_search=args.ef_search)
        print(f"indexed {report.count} tracklets ({report.dim}-d, {report.metric}) into {report.folder} "
              f"in {report.seconds:.1f} s; model {report.fingerprint[:12]}")
    elif command == "add":
        report = add_to_index(cfg, args.checkpoint, args.index, _gallery(args))
        print(f"added {report.added} tracklets to {report.folder}: {report.count} in all "
              f"({report.seconds:.1f} s)")
    else:
        if args.video and (args.tracks is None or args.track_id is None):
            raise ConfigError("--video needs --tracks and --track-id")
        query, matches, how = search(cfg, args.checkpoint, args.index, tracklet=args.tracklet, video=args.video,
                                     tracks=args.tracks, track_id=args.track_id, topk=args.topk,
                                     rerank=args.rerank, exact=args.exact, rerank_pool=args.rerank_pool)
        print(f"query {query.name} ({len(query)} frames): {how}")
        print(f"{'rank':>4}  {'name':<32} {'distance':>9} {'pid':>6} {'camera':>6}")
        for m in matches:
            print(f"{m.rank:>4}  {m.name:<32} {m.distance:>9.4f} {m.pid:>6} {m.camid:>6}")
        print(f"results: {cfg.output_dir}/results.json, strip: {cfg.output_dir}/strip.png")
        return
    if report.recall is not None:
        print(report.recall.text(report.faiss))
