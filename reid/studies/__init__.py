"""Studies and benchmarks: the recipe study (``recipe``), the outlier study (``outliers``) and the
CAA suspects ranking it uses (``suspects``), the comparison with torchreid (``compare_peer``), the
per-query failure analysis (``query_analysis``, its distances ``query_distances`` and files
``query_report``), and the speed benchmarks (``bench_model``, ``bench_eval``, ``bench_extract``, ``bench_large``,
``bench_loading``).

Each runs whole trainings, evaluations or searches through ``reid.pipeline`` and ``reid.search``
and may import everything below them; only ``reid.cli`` imports it. The benchmark modules carry their own ``main(argv)``.
"""
