#!/usr/bin/env python
"""``osmcaa-reid study twins`` as a script (code: reid.cli.twin_batches); ``--help`` lists the arguments."""
from reid.cli.main import script

script("study twins", __name__)
