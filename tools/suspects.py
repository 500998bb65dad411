#!/usr/bin/env python
"""``osmcaa-reid suspects`` as a script (code: reid.cli.suspects); ``--help`` lists the arguments."""
from reid.cli.main import script

script("suspects", __name__)
