"""The command line: ``osmcaa-reid`` (``reid.cli.main``) and one module per command.

A command module parses arguments, builds from the config and calls one function of the layers
below; it may import any of them (pipeline, search, studies, report, ...), and nothing imports it.
``common`` holds the ``--config FILE key.sub=value`` parsing every command shares.
"""
