#!/usr/bin/env python
"""``osmcaa-reid study recipe`` as a script (code: reid.cli.recipe_study); ``--help`` lists the arguments."""
from reid.cli.main import script

script("study recipe", __name__)
