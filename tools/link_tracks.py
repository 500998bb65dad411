#!/usr/bin/env python
"""``osmcaa-reid link`` as a script (code: reid.cli.link); ``--help`` lists the arguments."""
from reid.cli.main import script

script("link", __name__)
