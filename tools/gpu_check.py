#!/usr/bin/env python
"""``osmcaa-reid bench gpu`` as a script (code: reid.studies.gpu_check); ``--help`` lists the arguments."""
from reid.cli.main import script

script("bench gpu", __name__)
