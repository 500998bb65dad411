"""Reports: the HTML/Markdown page, plots, ranked-list pictures and a run's report sections.

It lays out numbers that ``reid.eval`` computed (``reid.eval.summary`` dicts, ``Evaluation``) and
writes files; it computes no metric. It may import ``reid.config``, ``reid.data``, ``reid.engine``
(atomic writes) and ``reid.eval``; never ``reid.pipeline`` or anything above it. matplotlib,
OpenCV and PIL are imported here, not in ``reid.eval``.
"""
