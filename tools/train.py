#!/usr/bin/env python
"""``osmcaa-reid train`` as a script (code: reid.cli.train); ``--help`` lists the arguments."""
from reid.cli.main import script

script("train", __name__)
