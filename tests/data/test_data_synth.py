"""End to end on a tiny synthetic set: synth -> UCF101 adapter -> prepare -> datasets."""

from __future__ import annotations

from pathlib import Path

from actionlab import synth
from actionlab.data.adapters import load_manifest
from actionlab.data.datasets import build_dataset
from actionlab.data.manifest import CANONICAL_12
from actionlab.data.prepare import PrepareConfig, prepare


def test_synthetic_clips_prepare_and_load(tmp_path: Path) -> None:
    clips = synth.generate_clips(tmp_path / "s", classes=["jumping", "waving"], clips_per_class=4,
                                 size=(64, 48), frames=12, workers=1, progress=False)
    m = load_manifest("ucf101", clips)
    assert m.classes == ["jumping", "waving"] and set(m.classes) <= set(CANONICAL_12)
    assert sum(m.counts().values()) == 8
    res = prepare(m, tmp_path / "c", PrepareConfig(size=(32, 32)), workers=2, progress=False)
    assert res.exit_code == 0 and res.done == 8
    assert {r.frames for r in res.manifest.records} == {12}
    ds = build_dataset(tmp_path / "c", "two_stream", "train", flow_length=8)
    (rgb, flow), label = ds[0]
    assert rgb.shape == (3, 32, 32) and flow.shape == (2, 8, 32, 32) and label in (0, 1)
