#!/usr/bin/env python
"""``osmcaa-reid export`` as a script (code: reid.cli.export); ``--help`` lists the arguments."""
from reid.cli.main import script

script("export", __name__)
