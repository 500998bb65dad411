#!/usr/bin/env python
"""``osmcaa-reid footage`` as a script (code: reid.cli.render_footage); ``--help`` lists the arguments."""
from reid.cli.main import script

script("footage", __name__)
