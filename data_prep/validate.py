#!/usr/bin/env python
"""``osmcaa-reid validate`` as a script (code: reid.cli.validate); ``--help`` lists the arguments."""
from reid.cli.main import script

script("validate", __name__)
