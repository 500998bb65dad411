"""``python -m reid.cli`` is ``osmcaa-reid``."""
import sys

from reid.cli.main import main

sys.exit(main())
