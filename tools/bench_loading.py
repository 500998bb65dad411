#!/usr/bin/env python
"""``osmcaa-reid bench loading`` as a script (code: reid.studies.bench_loading); ``--help`` lists the arguments."""
from reid.cli.main import script

script("bench loading", __name__)
