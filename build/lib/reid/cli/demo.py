"""The demo: synthetic MARS-layout data -> train -> evaluate -> re-rank -> report (``make demo``).

Without --config it runs the shipped demo config; data goes to data/synthetic/ and the run to
outputs/demo/ under the current folder (data.root=..., output_dir=... to change them).
"""

from reid.cli.common import base_parser, parse
from reid.eval.summary import fmt
from reid.pipeline.demo import run_demo


def main(argv=None):
    args, cfg = parse(base_parser(__doc__, default_config="demo"), argv)
    out = run_demo(cfg)
    r = out["results"]
    print(f"\nuntrained model: rank-1 {r['untrained']['rank1']:.1f}  mAP {r['untrained']['mAP']:.1f}")
    for name in ("trained", "trained + re-ranking"):
        if name in r:
            m = r[name]
            print(f"{name:>21}: rank-1 {fmt(m, 'rank1')}  rank-5 {fmt(m, 'rank5')}  rank-10 {fmt(m, 'rank10')}  "
                  f"rank-20 {fmt(m, 'rank20')}  mAP {fmt(m, 'mAP')}")
    print(f"wall time {out['seconds']:.0f} s; report: {out['report']}")
