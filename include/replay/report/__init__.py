"""A report for every run (docs/reports.md): derived figures, cross-checks against the dump,
thresholds, ``report.json`` (versioned schema), ``report.html`` (self-contained), ``summary.md``.

- :mod:`~replay.report.inputs` reads the run folder and parses the snapshots;
- :mod:`~replay.report.figures` derives topics, broker request times, queries, rates;
- :mod:`~replay.report.crosscheck` counts the dump independently and compares;
- :mod:`~replay.report.thresholds` evaluates the run's limits;
- :mod:`~replay.report.document` assembles ``report.json``;
- :mod:`~replay.report.plots` and :mod:`~replay.report.render` draw and write the pages;
- :mod:`~replay.report.catalog` lists, compares and indexes reports;
- :mod:`~replay.report.build` ties it together (the ``build_report`` step calls it).
"""
