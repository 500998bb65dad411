#!/usr/bin/env python
"""``osmcaa-reid bench large`` as a script (code: reid.studies.bench_large); ``--help`` lists the arguments."""
from reid.cli.main import script

script("bench large", __name__)
