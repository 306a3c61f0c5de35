"""Plots (:mod:`actionlab.report.plots`) and the self-contained HTML report
(:mod:`actionlab.report.html`, ``actionlab report RUN... -o report.html``)."""
