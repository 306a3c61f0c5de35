from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from actionlab.data import adapters as A
from actionlab.data.manifest import (
    CANONICAL_12,
    HMDB51_TO_CANONICAL,
    STANFORD40_TO_CANONICAL,
    Manifest,
    carve_validation,
    select_classes,
)
from actionlab.errors import DatasetError

SPLITS = Path(__file__).resolve().parents[3] / "shared" / "data" / "splits"
needs_splits = pytest.mark.skipif(not SPLITS.is_dir(), reason="../shared/data/splits absent")


@needs_splits
@pytest.mark.parametrize("split,train,test", [(1, 9537, 3783), (2, 9586, 3734), (3, 9624, 3696)])
def test_ucf101_real_split_files(split: int, train: int, test: int) -> None:
    m = A.ucf101("/nowhere", split=split, splits_dir=SPLITS / "ucf101", check_files=False)
    assert len(m.classes) == 101 and m.classes[0] == "ApplyEyeMakeup"
    assert m.counts() == {"train": train, "test": test}
    assert {r.label for r in m.records} == set(range(101))
    r = m.split("train")[0]
    assert (r.label, r.label_name) == (0, "ApplyEyeMakeup")
    if split == 1:
        assert r.path == "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"
    assert len({r.key for r in m.records}) == len(m.records)


@needs_splits
def test_hmdb51_real_split_files() -> None:
    m = A.hmdb51("/nowhere", split=1, splits_dir=SPLITS / "hmdb51", check_files=False)
    assert len(m.classes) == 51
    assert m.counts() == {"train": 3570, "test": 1530, "unused": 1666}
    # Names starting with '#' are videos, not comments.
    assert any(Path(r.path).name.startswith("#20_Rhythm_clap") for r in m.records)
    assert set(HMDB51_TO_CANONICAL) <= set(m.classes)


@needs_splits
def test_hmdb51_study_subset_and_validation() -> None:
    m = A.load_manifest("hmdb51", "/nowhere", classes="hmdb51_12", val_fraction=0.1, seed=0,
                        splits_dir=SPLITS / "hmdb51", check_files=False)
    assert m.classes == list(CANONICAL_12)
    c = m.counts()
    assert c["train"] + c["val"] == 12 * 70 and c["test"] == 12 * 30
    assert c["val"] == 84
    val = Counter(r.label_name for r in m.split("val"))
    assert set(val.values()) == {7}  # stratified: 10% of 70 in every class
    again = A.load_manifest("hmdb51", "/nowhere", classes="hmdb51_12", val_fraction=0.1, seed=0,
                            splits_dir=SPLITS / "hmdb51", check_files=False)
    assert [r.path for r in again.split("val")] == [r.path for r in m.split("val")]
    other = A.load_manifest("hmdb51", "/nowhere", classes="hmdb51_12", val_fraction=0.1, seed=1,
                            splits_dir=SPLITS / "hmdb51", check_files=False)
    assert [r.path for r in other.split("val")] != [r.path for r in m.split("val")]


@needs_splits
def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"v_ApplyEyeMakeup_g08_c01\.avi: listed in .*missing"):
        A.ucf101(tmp_path, split=1, splits_dir=SPLITS / "ucf101")


def _ucf_like(tmp_path: Path, train_lines: list[str]) -> Path:
    d = tmp_path / "ucfTrainTestlist"
    d.mkdir(parents=True)
    (d / "classInd.txt").write_text("1 Jump\n2 Run\n")
    (d / "trainlist01.txt").write_text("\n".join(train_lines) + "\n")
    (d / "testlist01.txt").write_text("Run/v_Run_g01_c01.avi\n")
    return d


def test_unknown_class_in_split_file(tmp_path: Path) -> None:
    d = _ucf_like(tmp_path, ["Jump/v_Jump_g08_c01.avi 1", "Swim/v_Swim_g01_c01.avi 3"])
    with pytest.raises(DatasetError, match=r"trainlist01\.txt:2: unknown class 'Swim'"):
        A.ucf101(tmp_path, check_files=False)
    assert d.is_dir()


def test_hmdb51_unknown_class(tmp_path: Path) -> None:
    d = tmp_path / "splits"
    d.mkdir()
    (d / "class_list.txt").write_text("wave\n")
    (d / "wave_test_split1.txt").write_text("a.avi 1 \nb.avi 2 \n")
    (d / "juggle_test_split1.txt").write_text("c.avi 1 \n")
    with pytest.raises(DatasetError, match=r"juggle_test_split1\.txt: unknown class 'juggle'"):
        A.hmdb51(tmp_path, check_files=False)


def test_stanford40_layout(tmp_path: Path) -> None:
    s = tmp_path / "ImageSplits"
    (tmp_path / "JPEGImages").mkdir(parents=True)
    s.mkdir()
    (s / "actions.txt").write_text("action_name\tnumber_of_images\napplauding\t3\nwaving_hands\t2\n")
    (s / "applauding_train.txt").write_text("applauding_001.jpg\napplauding_002.jpg\n")
    (s / "applauding_test.txt").write_text("applauding_003.jpg\n")
    (s / "waving_hands_train.txt").write_text("waving_hands_001.jpg\n")
    (s / "waving_hands_test.txt").write_text("waving_hands_002.jpg\n")
    for n in ("applauding_001", "applauding_002", "applauding_003", "waving_hands_001"):
        (tmp_path / "JPEGImages" / f"{n}.jpg").write_bytes(b"x")
    with pytest.raises(DatasetError, match="waving_hands_002.jpg"):
        A.stanford40(tmp_path)
    m = A.stanford40(tmp_path, check_files=False)
    assert m.classes == ["applauding", "waving_hands"]
    assert m.counts() == {"train": 3, "test": 2}
    assert all(r.frames == 1 for r in m.records)
    sub = select_classes(m, {k: v for k, v in STANFORD40_TO_CANONICAL.items()
                             if k in ("applauding", "waving_hands")})
    assert sub.classes == ["applauding", "waving"]
    assert [r.label_name for r in sub.split("test")] == ["applauding", "waving"]


@pytest.mark.parametrize("layout", ["split/label", "label", "split", "flat"])
def test_kinetics_layouts(tmp_path: Path, layout: str) -> None:
    rows = [("arm wrestling", "abc", 5, 15, "train"), ("arm wrestling", "def", 0, 10, "val"),
            ("yoga", "ghi", 30, 40, "train"), ("yoga", "jkl", 1, 11, "test")]
    csv = tmp_path / "k.csv"
    csv.write_text("label,youtube_id,time_start,time_end,split\n"
                   + "".join(f"{a},{b},{c},{d},{e}\n" for a, b, c, d, e in rows))
    root = tmp_path / "videos"
    for label, yid, t0, t1, split in rows:
        name = f"{yid}_{t0:06d}_{t1:06d}.mp4"
        sub = {"split/label": f"{split}/{label}", "label": label.replace(" ", "_"),
               "split": split, "flat": ""}[layout]
        (root / sub).mkdir(parents=True, exist_ok=True)
        (root / sub / name).write_bytes(b"x")
    m = A.kinetics(root, csv)
    assert m.classes == ["arm wrestling", "yoga"]
    assert m.counts() == {"train": 2, "val": 1, "test": 1}
    assert all((root / r.path).is_file() for r in m.records)
    (root / m.records[0].path).unlink()
    with pytest.raises(DatasetError, match="abc_000005_000015.mp4"):
        A.kinetics(root, csv)
    assert len(A.kinetics(root, csv, skip_missing=True).records) == 3


def test_folder_tree(clip_tree: Path) -> None:
    m = A.folder(clip_tree)
    assert m.classes == ["jumping", "running", "waving"]
    assert m.counts() == {"train": 13}
    assert len(A.folder(clip_tree, stills=False).records) == 12


def test_folder_tree_with_split_dirs(tmp_path: Path, clip_tree: Path) -> None:
    for split in ("train", "test"):
        shutil.copytree(clip_tree / "running", tmp_path / split / "running")
    m = A.folder(tmp_path)
    assert m.counts() == {"train": 4, "test": 4} and m.classes == ["running"]


def test_select_classes_errors_and_lists() -> None:
    m = Manifest(["a", "b", "c"], [], "x")
    with pytest.raises(DatasetError, match="not found"):
        select_classes(m, ["a", "zzz"])
    with pytest.raises(DatasetError, match="unknown class map"):
        select_classes(m, "nope_12")
    assert select_classes(m, ["c", "a"]).classes == ["c", "a"]


def test_carve_validation_keeps_test(clip_tree: Path) -> None:
    m = A.folder(clip_tree, stills=False)
    v = carve_validation(m, 0.25, seed=3)
    assert v.counts() == {"train": 9, "val": 3}
    assert sorted(r.label for r in v.split("val")) == [0, 1, 2]
    with pytest.raises(DatasetError):
        carve_validation(m, 1.5)


def test_manifest_roundtrip(tmp_path: Path, clip_tree: Path) -> None:
    m = A.folder(clip_tree)
    m.save(tmp_path / "m.json")
    back = Manifest.load(tmp_path / "m.json")
    assert back.to_dict() == m.to_dict()
    assert A.load_manifest("manifest", tmp_path / "m.json").counts() == m.counts()
    with pytest.raises(DatasetError, match="not found"):
        Manifest.load(tmp_path / "nope.json")
