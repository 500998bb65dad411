#!/usr/bin/env python
"""``osmcaa-reid bench eval`` as a script (code: reid.studies.bench_eval); ``--help`` lists the arguments."""
from reid.cli.main import script

script("bench eval", __name__)
