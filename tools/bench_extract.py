#!/usr/bin/env python
"""``osmcaa-reid bench extract`` as a script (code: reid.studies.bench_extract); ``--help`` lists the arguments."""
from reid.cli.main import script

script("bench extract", __name__)
