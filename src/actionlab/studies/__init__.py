"""Applications on top of the toolkit: they drive it through the public API only.

- :mod:`actionlab.studies.demo`: ``actionlab demo``, the study end to end on the synthetic
  benchmark;
- :mod:`actionlab.studies.slip`: the slip-detector study the demo runs (windows cut from long
  videos, a two-stream detector, timelines scored against the annotations).

Each loads a shipped config by name and sets its typed fields from its own settings dataclass.
"""
