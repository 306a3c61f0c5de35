"""Bad input: a one-line InputError naming the problem, a non-zero exit, nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from actionlab.errors import InputError
from actionlab.synth import generate_clips, generate_stills, synth
from actionlab.synth import clips as clips_mod
from actionlab.synth.output import MANIFEST

SMALL = dict(clips_per_class=1, size=(32, 32), frames=4, workers=1, progress=False)


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"classes": ["drinking", "dancing"]}, "dancing"),
        ({"classes": []}, "no class"),
        ({"clips_per_class": 0}, "--clips-per-class"),
        ({"clips_per_class": -3}, "--clips-per-class"),
        ({"size": (0, 0)}, "0x0"),
        ({"size": "33x32"}, "odd"),
        ({"size": "100000x100000"}, "out of range"),
        ({"size": "big"}, "WxH"),
        ({"frames": 2}, "--frames"),
        ({"fps": 0}, "--fps"),
        ({"difficulty": "extreme"}, "--difficulty"),
        ({"shake": 1.5}, "--shake"),
        ({"shake": -0.1}, "--shake"),
        ({"workers": 0}, "--workers"),
    ],
)
def test_bad_options_refused_before_writing(tmp_path, kw, words):
    out = tmp_path / "out"
    with pytest.raises(InputError, match=words) as err:
        generate_clips(out, **(SMALL | kw))
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_bad_products_and_counts_in_synth(tmp_path):
    with pytest.raises(InputError, match="--only"):
        synth(tmp_path / "o", products=["clips", "videos"])
    with pytest.raises(InputError, match="--stills-per-class"):
        synth(tmp_path / "o", products="stills", stills_per_class=0)
    with pytest.raises(InputError, match="--long-videos"):
        synth(tmp_path / "o", products="long", long_videos=-1)
    assert list(tmp_path.iterdir()) == []


def test_occupied_output_refused_and_overwrite_keeps_other_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="1 other file; pass --overwrite"):
        generate_clips(out, classes=["waving"], **SMALL)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    generate_clips(out, classes=["waving", "running"], overwrite=True, **SMALL)
    fresh = tmp_path / "fresh"
    generate_clips(fresh, classes=["waving"], **SMALL)
    with pytest.raises(InputError, match="earlier synthetic clips"):
        generate_clips(fresh, classes=["waving"], **SMALL)
    # another product may join an earlier one without --overwrite
    generate_stills(fresh, classes=["waving"], stills_per_class=1, size=(32, 32), workers=1,
                    progress=False)  # fmt: skip
    files = json.loads((fresh / MANIFEST).read_text())["files"]
    assert sorted(files) == ["clips", "stills"] and (fresh / "clips" / "classInd.txt").is_file()
    # a smaller set replaces ours (running/ disappears) and leaves notes.txt alone
    generate_clips(out, classes=["waving"], overwrite=True, **SMALL)
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / "clips" / "running").exists()
    listed = json.loads((out / MANIFEST).read_text())["files"]["clips"]
    on_disk = {p.relative_to(out).as_posix() for p in (out / "clips").rglob("*") if p.is_file()}
    assert set(listed) == on_disk


def test_foreign_file_in_our_path_is_never_replaced(tmp_path):
    out = tmp_path / "out"
    (out / "clips").mkdir(parents=True)
    (out / "clips" / "classInd.txt").write_text("someone else's")
    with pytest.raises(InputError, match="not written by actionlab"):
        generate_clips(out, classes=["waving"], overwrite=True, **SMALL)
    assert (out / "clips" / "classInd.txt").read_text() == "someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_failure_midway_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def broken(path, frames, fps):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        return orig(path, frames, fps)

    orig = clips_mod.write_video
    monkeypatch.setattr(clips_mod, "write_video", broken)
    with pytest.raises(OSError):
        generate_clips(tmp_path / "out", classes=["waving", "running"], **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_cli_error_is_one_line_with_nonzero_exit(tmp_path):
    from actionlab.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["synth", str(tmp_path / "o"), "--classes", "flying", "--only", "clips"])
    assert res.exit_code != 0 and isinstance(res.exception, InputError)
    proc = subprocess.run(
        [sys.executable, "-c", "from actionlab.cli import run; run()", "synth", str(tmp_path / "o"),
         "--size", "31x31"], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "odd side" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_cli_makes_a_small_set(tmp_path):
    from actionlab.cli import app

    res = CliRunner().invoke(app, [
        "synth", str(tmp_path / "o"), "--classes", "waving,drinking", "--clips-per-class", "1",
        "--size", "32x32", "--frames", "4", "--only", "clips", "--only", "stills",
        "--stills-per-class", "1", "--workers", "1", "--seed", "4"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == sorted(["clips", MANIFEST, "stills"])
    assert len(list((tmp_path / "o" / "clips").glob("*/*.mp4"))) == 2


def test_bad_long_durations(tmp_path):
    from actionlab.synth.api import parse_seconds

    with pytest.raises(InputError, match="--long-duration"):
        synth(tmp_path / "o", products="long", long_duration=(30.0, 10.0))
    with pytest.raises(InputError, match="--long-duration"):
        synth(tmp_path / "o", products="long", long_duration=2.0)
    with pytest.raises(InputError, match="--long-duration"):
        parse_seconds("soon")
    assert parse_seconds("20,60") == (20.0, 60.0) and parse_seconds("30") == (30.0, 30.0)
    assert list(tmp_path.iterdir()) == []
