#!/usr/bin/env python
"""``osmcaa-reid synthetic`` as a script (code: reid.cli.make_synthetic); ``--help`` lists the arguments."""
from reid.cli.main import script

script("synthetic", __name__)
