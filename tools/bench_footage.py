#!/usr/bin/env python
"""``osmcaa-reid bench footage`` as a script (code: reid.cli.bench_footage); ``--help`` lists the arguments."""
from reid.cli.main import script

script("bench footage", __name__)
