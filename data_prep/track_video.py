#!/usr/bin/env python
"""``osmcaa-reid track`` as a script (code: reid.cli.track); ``--help`` lists the arguments."""
from reid.cli.main import script

script("track", __name__)
