"""`actionlab explain` as a user runs it: one folder per video, run folders, one-line errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from _infer_fakes import write_video
from cli_run import listing, refused

from actionlab.explain.videos import output_names


def test_output_names_are_distinct_and_readable(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mp4", tmp_path / "c" / "run.avi"
    names = output_names([a, b, c, a, tmp_path / "a" / ".." / "a" / "clip.mp4"])
    assert list(names) == [a, b, c]  # a video given twice is explained once
    assert names[c] == "run"
    assert names[a] != names[b] and names[a].startswith("clip-") and len(names[a]) == 13
    assert output_names([a, b]) == {a: names[a], b: names[b]}  # stable across calls


def test_same_name_in_two_folders_writes_two_folders(actionlab, explain_ckpt: Path,
                                                      tmp_path: Path) -> None:
    """Before: a/clip.mp4 and b/clip.mp4 both went to OUT/clip_mp4, the second overwriting."""
    a = write_video((tmp_path / "a").mkdir() or tmp_path / "a" / "clip.mp4", frames=24)
    b = write_video((tmp_path / "b").mkdir() or tmp_path / "b" / "clip.mp4", frames=24,
                    square_from=12)
    out = tmp_path / "out"
    res = actionlab("explain", explain_ckpt, a, b, "--out", out, "--no-tsne")
    assert res.code == 0, res.err
    folders = sorted(p for p in out.iterdir())
    assert len(folders) == 2 and {p.name[:5] for p in folders} == {"clip-"}
    gifs = [(f / "gradcam.gif").read_bytes() for f in folders]
    assert gifs[0] != gifs[1]  # each holds its own video's pictures
    for video, folder in zip((a, b), [output_names([a, b])[v] for v in (a, b)], strict=True):
        assert f"{video}: " in res.out and f"-> {out / folder}" in res.out


def test_a_run_folder_writes_into_run_explain(actionlab, explain_ckpt: Path, explain_clip: Path,
                                               tmp_path: Path, monkeypatch) -> None:
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(explain_ckpt, run / "best.safetensors")
    monkeypatch.chdir(tmp_path)
    res = actionlab("explain", run, explain_clip, "--no-tsne")
    assert res.code == 0, res.err
    assert (run / "explain" / "clip" / "gradcam.gif").is_file()  # where `report` looks
    assert not (tmp_path / "explain_out").exists()


def _refused(actionlab, args: list, words: str, watch: Path, code: int | None = None) -> None:
    before = listing(watch)
    refused(actionlab(*args), words, code=code)
    assert listing(watch) == before  # nothing written


def test_bad_outputs_and_inputs_are_one_line(actionlab, explain_ckpt: Path, explain_clip: Path,
                                             tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    a_file = tmp_path / "taken.txt"
    a_file.write_text("x")
    ck, clip = explain_ckpt, explain_clip

    def refuse(words: str, code: int, *args: object) -> None:
        _refused(actionlab, ["explain", *args], words, tmp_path, code)

    refuse(f"--out {a_file}: a file is there, not a folder", 2, ck, clip, "--out", a_file)
    refuse(f"{a_file} is a file, not a folder", 2, ck, clip, "--out", a_file / "sub")
    refuse("missing.mp4", 1, ck, tmp_path / "missing.mp4", "--out", tmp_path / "o")
    empty_run = tmp_path / "empty_run"
    empty_run.mkdir()
    # loaded through actionlab.load, so refused as predict refuses it (one run-folder rule)
    refuse("not a usable run (no checkpoint", 2, empty_run, clip)
    refuse("dance", 2, ck, clip, "--target", "dance", "--out", tmp_path / "o")
    refuse("--color-by", 2, ck, clip, "--color-by", "x", "--out", tmp_path / "o")


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs a read-only /sys")
def test_an_uncreatable_out_folder_is_one_line(actionlab, explain_ckpt: Path,
                                               explain_clip: Path) -> None:
    # Root may create folders anywhere, as far as os.access knows: /sys refuses at the write.
    line = refused(actionlab("explain", explain_ckpt, explain_clip, "--out",
                             "/sys/actionlab-explain"), "--out /sys/actionlab-explain: ", code=2)
    assert "not permitted" in line or "not writable" in line, line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_folder_is_one_line(actionlab, explain_ckpt: Path, explain_clip: Path,
                                            tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        for out in (ro / "x", ro):
            _refused(actionlab, ["explain", explain_ckpt, explain_clip, "--out", out],
                     "not writable", tmp_path, 2)
    finally:
        ro.chmod(0o700)
