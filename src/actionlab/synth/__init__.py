"""The built-in synthetic action benchmark.

Procedurally animated articulated figures perform the 12 Stanford40/HMDB51 classes; three
pairs of classes differ only in how the figure moves (:data:`MOTION_PAIRS`). Three products:
short clips in UCF101 layout, Stanford40-style stills, and long videos with timed events.
"""

import sys
import types
from typing import Any

from actionlab.synth.api import generate_clips, generate_long_videos, generate_stills, synth
from actionlab.synth.motions import CLASSES, MOTION_PAIRS
from actionlab.synth.video_writer import write_video

__all__ = [
    "CLASSES", "MOTION_PAIRS", "generate_clips", "generate_long_videos", "generate_stills",
    "synth", "write_video",
]  # fmt: skip


class _SynthPackage(types.ModuleType):
    """``actionlab.synth(out, ...)`` writes the benchmark: the package is callable because it
    shares its name with the public function (:func:`actionlab.synth.api.synth`)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return synth(*args, **kwargs)


sys.modules[__name__].__class__ = _SynthPackage
