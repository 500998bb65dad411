#!/usr/bin/env python
"""``osmcaa-reid study peer`` as a script (code: reid.studies.compare_peer); ``--help`` lists the arguments."""
from reid.cli.main import script

script("study peer", __name__)
