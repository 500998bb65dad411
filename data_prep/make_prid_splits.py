#!/usr/bin/env python
"""``osmcaa-reid prid-splits`` as a script (code: reid.cli.prid_splits); ``--help`` lists the arguments."""
from reid.cli.main import script

script("prid-splits", __name__)
