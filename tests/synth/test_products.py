"""The three products: layout, formats, decoding, determinism, events."""

from __future__ import annotations

import json

import av
import cv2
import numpy as np
import pytest

from actionlab.synth import CLASSES, generate_clips, write_video
from actionlab.synth.output import MANIFEST


def _decode(path) -> tuple[np.ndarray, float]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(s)])
        return frames, float(s.average_rate)


def test_every_class_with_requested_counts_and_ucf101_splits(tiny_set):
    root = tiny_set / "clips"
    ind = [line.split() for line in (root / "classInd.txt").read_text().splitlines()]
    assert ind == [[str(i + 1), c] for i, c in enumerate(CLASSES)]
    for c in CLASSES:
        assert len(list((root / c).glob("v_*.mp4"))) == 2
    train = [line.split() for line in (root / "trainlist01.txt").read_text().splitlines()]
    test = (root / "testlist01.txt").read_text().splitlines()
    assert all(len(t) == 2 and CLASSES[int(t[1]) - 1] == t[0].split("/")[0] for t in train)
    train_paths = {t[0] for t in train}
    assert train_paths.isdisjoint(test)
    all_clips = {p.relative_to(root).as_posix() for p in root.glob("*/*.mp4")}
    assert train_paths | set(test) == all_clips
    ann = json.loads((root / "annotations.json").read_text())
    assert {a["path"] for a in ann["clips"]} == all_clips
    for a in ann["clips"]:
        assert 0 <= a["action_start"] < a["frames"]  # pair clips are rotated: the action may wrap
        assert a["action_start"] < a["action_end"] <= a["action_start"] + a["frames"]


def test_clips_decode_to_requested_size_fps_and_length(tiny_set):
    for p in sorted((tiny_set / "clips").glob("*/*.mp4"))[::5]:
        frames, fps = _decode(p)
        assert frames.shape == (8, 32, 32, 3)
        assert fps == pytest.approx(10.0)


def test_same_seed_same_clips_other_seed_differs(tmp_path):
    # 112x112: libx264's default rate control was not repeatable at this size (see video_writer)
    kw = dict(classes=["drinking", "waving"], clips_per_class=1, size=(112, 112), frames=8,
              workers=1, progress=False)  # fmt: skip
    a, b, c = (generate_clips(tmp_path / n, seed=s, **kw) for n, s in (("a", 5), ("b", 5), ("c", 6)))
    ja, jb, jc = (json.loads((d / "annotations.json").read_text()) for d in (a, b, c))
    assert ja == jb and ja != jc
    for clip in ja["clips"]:
        fa, fb, fc = (_decode(d / clip["path"])[0] for d in (a, b, c))
        assert np.array_equal(fa, fb)
        assert not np.array_equal(fa, fc)


def test_stills_in_stanford40_layout(tiny_set):
    root = tiny_set / "stills"
    rows = (root / "ImageSplits" / "actions.txt").read_text().splitlines()
    assert rows[0].split() == ["action_name", "number_of_images"]
    assert [r.split() for r in rows[1:]] == [[c, "2"] for c in CLASSES]
    for c in CLASSES:
        train = (root / "ImageSplits" / f"{c}_train.txt").read_text().split()
        test = (root / "ImageSplits" / f"{c}_test.txt").read_text().split()
        assert sorted(train + test) == [f"{c}_001.jpg", f"{c}_002.jpg"]
        assert not set(train) & set(test)
        img = cv2.imread(str(root / "JPEGImages" / f"{c}_001.jpg"))
        assert img.shape == (32, 32, 3)
        assert (root / "XMLAnnotations" / f"{c}_001.xml").is_file()


def test_long_videos_events_match_the_rendered_figure(tiny_set):
    root = tiny_set / "long"
    infos = [json.loads(p.read_text()) for p in sorted(root.glob("long_*.json"))]
    assert len(infos) == 2
    for info in infos:
        frames, fps = _decode(root / info["video"])
        assert frames.shape[0] == info["frames"] == len(info["boxes"])
        assert frames.shape[1:3] == (48, 64) and fps == pytest.approx(info["fps"])
        assert 10.0 <= info["duration"] <= 12.0 + 1e-6
        slips = [e for e in info["events"] if e["label"] == "slipping"]
        assert len(slips) == 1
        h = np.array([b[3] - b[1] for b in info["boxes"]])
        t = np.arange(len(h)) / info["fps"]
        ev = slips[0]
        busy = np.zeros(len(h), bool)
        for e in info["events"]:
            busy |= (t >= e["start"]) & (t < e["end"])
        mid = (t >= ev["start"] + 0.35 * (ev["end"] - ev["start"])) & (
            t < ev["start"] + 0.5 * (ev["end"] - ev["start"]))
        assert h[mid].max() < 0.6 * np.median(h[~busy]), "the figure should be down mid-slip"
        for e in info["events"]:
            assert 0 <= e["start"] < e["end"] <= info["duration"]


def test_contact_sheets_and_manifest(tiny_set):
    for product in ("clips", "stills", "long"):
        img = cv2.imread(str(tiny_set / product / "contact_sheet.png"))
        assert img is not None and img.shape[0] > 50
    manifest = json.loads((tiny_set / MANIFEST).read_text())
    listed = {f for fs in manifest["files"].values() for f in fs}
    on_disk = {p.relative_to(tiny_set).as_posix() for p in tiny_set.rglob("*") if p.is_file()}
    assert on_disk == listed | {MANIFEST}


def test_write_video_round_trip(tmp_path):
    frames = np.zeros((5, 16, 24, 3), np.uint8)
    frames[:, :, :12] = 200
    write_video(tmp_path / "v.mp4", frames, 12)
    got, fps = _decode(tmp_path / "v.mp4")
    assert got.shape == frames.shape and fps == 12
    assert np.abs(got.astype(int) - frames).mean() < 8
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


def test_workers_do_not_change_the_output(tmp_path):
    kw = dict(classes=["smoking", "climbing"], clips_per_class=2, size=(32, 32), frames=5,
              seed=9, progress=False)  # fmt: skip
    one = generate_clips(tmp_path / "one", workers=1, **kw)
    two = generate_clips(tmp_path / "two", workers=2, **kw)
    assert (one / "annotations.json").read_text() == (two / "annotations.json").read_text()
    for p in sorted(one.glob("*/*.mp4")):
        assert p.read_bytes() == (two / p.relative_to(one)).read_bytes()
