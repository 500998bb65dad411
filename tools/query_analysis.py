#!/usr/bin/env python
"""``osmcaa-reid study queries`` as a script (code: reid.cli.query_analysis); ``--help`` lists the arguments."""
from reid.cli.main import script

script("study queries", __name__)
