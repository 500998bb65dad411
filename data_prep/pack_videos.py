#!/usr/bin/env python
"""``osmcaa-reid pack`` as a script (code: reid.cli.pack); ``--help`` lists the arguments."""
from reid.cli.main import script

script("pack", __name__)
