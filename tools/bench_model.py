#!/usr/bin/env python
"""``osmcaa-reid bench model`` as a script (code: reid.studies.bench_model); ``--help`` lists the arguments."""
from reid.cli.main import script

script("bench model", __name__)
