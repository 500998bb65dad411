#!/usr/bin/env python
"""``osmcaa-reid demo`` as a script (code: reid.cli.demo); ``--help`` lists the arguments."""
from reid.cli.main import script

script("demo", __name__)
