#!/usr/bin/env python
"""``osmcaa-reid crop`` as a script (code: reid.cli.crop); ``--help`` lists the arguments."""
from reid.cli.main import script

script("crop", __name__)
