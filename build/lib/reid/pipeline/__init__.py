"""The wiring of one run: build data, model and loss from a config, train, evaluate, test, demo.

It may import ``reid.config``, ``reid.data``, ``reid.models``, ``reid.losses``, ``reid.engine``,
``reid.eval`` and ``reid.report`` (a run writes its report); ``reid.search``, ``reid.studies`` and
``reid.cli`` sit above it and import it, never the other way round.
"""
