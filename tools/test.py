#!/usr/bin/env python
"""``osmcaa-reid test`` as a script (code: reid.cli.test); ``--help`` lists the arguments."""
from reid.cli.main import script

script("test", __name__)
