"""How often a training batch holds two near twins, on a synthetic MARS-layout set with near twins
(hard2, hard3, hard4): random P x K batches, and with --checkpoint the batches that soft identity
mining (data.identity_mining) would draw with that model's classifier centres.

python tools/twin_batches.py --root data/hard4 [--checkpoint outputs/run/model.pt] [--temperature 0.1] \\
    [--iterations 510 --num-identities 4 --num-instances 2 --seed 0]

Nothing is trained: the identity sampler draws the batches as training would and the training
split's twin pairs (twins.csv) are counted in them. docs/query_analysis.md, "Near twins in batches".
"""

import argparse

from reid.data import load_dataset
from reid.studies.twin_batches import (
    checkpoint_similarity,
    label_pairs,
    read_train_twins,
    twin_batch_stats,
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="the dataset: the mars folder or its parent")
    parser.add_argument("--checkpoint", help="model.pt of a run on this training split: mine with its centres")
    parser.add_argument("--temperature", type=float, default=0.1, help="identity mining temperature (> 0)")
    parser.add_argument("--iterations", type=int, default=510, help="batches to draw")
    parser.add_argument("--num-identities", type=int, default=4, help="P")
    parser.add_argument("--num-instances", type=int, default=2, help="K")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("iterations", "num_identities", "num_instances"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} {getattr(args, name)}: expected >= 1")
    if args.temperature <= 0:
        parser.error(f"--temperature {args.temperature}: expected > 0")
    train = load_dataset("mars", args.root).train
    pids = [t.pid for t in train]
    pairs = label_pairs(train, read_train_twins(args.root))
    rows = [("random batches", None)]
    if args.checkpoint:
        rows.append((f"identity mining at {args.temperature:g}", checkpoint_similarity(args.checkpoint)))
    print(f"{len(set(pids))} training identities, {len(pairs)} near-twin pairs; {args.iterations} batches of "
          f"{args.num_identities} x {args.num_instances}")
    print("| batches | with a twin pair | batches per twin pair holding both | twin pairs never together |")
    print("|---|---:|---:|---:|")
    for name, similarity in rows:
        if similarity is not None and similarity.shape[0] <= max(pids):
            raise SystemExit(f"--checkpoint {args.checkpoint}: its classifier has {similarity.shape[0]} classes, "
                             f"this training split {max(pids) + 1}: not a model of this training split")
        s = twin_batch_stats(pids, pairs, num_identities=args.num_identities, num_instances=args.num_instances,
                             iterations=args.iterations, seed=args.seed, similarity=similarity,
                             temperature=args.temperature)
        print(f"| {name} | {100 * s.share_with_pair:.1f} % | {s.meetings_per_pair:.2f} | "
              f"{100 * s.pairs_never_met:.0f} % |")
    return 0
