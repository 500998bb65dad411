#!/usr/bin/env python
"""``osmcaa-reid search`` as a script (code: reid.cli.search); ``--help`` lists the arguments."""
from reid.cli.main import script

script("search", __name__)
