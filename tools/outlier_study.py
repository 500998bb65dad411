#!/usr/bin/env python
"""``osmcaa-reid study outliers`` as a script (code: reid.cli.outlier_study); ``--help`` lists the arguments."""
from reid.cli.main import script

script("study outliers", __name__)
