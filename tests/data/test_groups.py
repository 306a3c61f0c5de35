"""Groups in manifests: the CSV adapter, group patterns, and splits that keep groups whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from actionlab.data import adapters as A
from actionlab.data.groups import UT_INTERACTION_PATTERN, group_folds, group_holdout
from actionlab.data.manifest import Manifest, Record, carve_validation
from actionlab.errors import DatasetError, InputError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
UT = SHARED / "videos" / "ut_interaction_set1"
SPLITS = SHARED / "splits"


def _write(tmp_path: Path, text: str, files: tuple[str, ...] = ()) -> Path:
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_bytes(b"x")
    path = tmp_path / "list.csv"
    path.write_text(text)
    return path


def test_csv_relative_paths_groups_and_extra_columns(tmp_path: Path) -> None:
    files = ("a/1.avi", "a/2.avi", "b/3.avi", "b/4.avi")
    path = _write(tmp_path, "path,label,split,group,actor_age\n"
                  "a/1.avi,run,train,s1,30\na/2.avi,run,test,s2,41\n"
                  "b/3.avi,walk,,s1,30\nb/4.avi,walk,test,s2,41\n", files)
    m = A.load_manifest("csv", path)
    assert m.root == str(tmp_path) and m.classes == ["run", "walk"]
    assert [(r.label_name, r.split, r.group) for r in m.records] == [
        ("run", "train", "s1"), ("run", "test", "s2"), ("walk", "train", "s1"),
        ("walk", "test", "s2")]
    assert m.abspath(m.records[2]) == tmp_path / "b/3.avi"
    assert m.meta["columns"] == ["actor_age"]
    assert m.meta["extra"][m.records[3].key] == {"actor_age": "41"}


def test_csv_reads_ut_interaction_with_its_sequence_column() -> None:
    if not UT.is_dir():
        pytest.skip(f"{UT} not present")
    m = A.load_manifest("csv", UT / "manifest.csv", group_column="sequence")
    assert len(m.records) == 60 and len(m.classes) == 6
    assert sorted({r.group for r in m.records}, key=int) == [str(i) for i in range(1, 11)]
    # the folder adapter with the UT-Interaction pattern finds the same groups
    f = A.load_manifest("folder", UT, group_pattern=UT_INTERACTION_PATTERN)
    assert {r.path: r.group for r in f.records} == {r.path: r.group for r in m.records}


@pytest.mark.parametrize("text,files,message", [
    ("path,split\na.avi,train\n", ("a.avi",), "list.csv:1: missing column(s) label"),
    ("path,label,,x\na.avi,run,1,2\n", ("a.avi",), "list.csv:1: column 3 has no name"),
    ("path,label,group\na.avi,run,g1\nb.avi,run,\n", ("a.avi", "b.avi"),
     "list.csv:3: empty 'group'"),
    ("path,label,split\na.avi,run,train\nb.avi,run,holdout\n", ("a.avi", "b.avi"),
     "list.csv:3: split 'holdout' is not one of"),
    ("path,label\na.avi,run\nb.avi,run\n", ("a.avi",), "list.csv:3: "),
    ("path,label,split\na.avi,run,train\nb.avi,jump,test\n", ("a.avi", "b.avi"),
     "list.csv:3: label 'jump' appears only in the test split"),
    ("path,label\na.avi,run\na.avi,run\n", ("a.avi",), "list.csv:3: 'a.avi' is listed twice"),
    ("path,label\na.avi,run,extra\n", ("a.avi",), "list.csv:2: 3 fields, the header has 2"),
])
def test_csv_bad_input_is_one_line_naming_file_and_row(
    tmp_path: Path, text: str, files: tuple[str, ...], message: str
) -> None:
    path = _write(tmp_path, text, files)
    with pytest.raises(DatasetError) as exc:
        A.load_manifest("csv", path)
    assert str(path) in str(exc.value) and message in str(exc.value)
    assert "\n" not in str(exc.value)
    if "b.avi,run\n" in text and "label,split" not in text:
        assert "b.avi: file not found" in str(exc.value)


def test_group_pattern_for_folders_and_the_gnn_convention(tmp_path: Path) -> None:
    for name in ("run/v_Run_g01_c01.avi", "run/v_Run_g02_c01.avi", "walk/v_Walk_g01_c02.avi"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    m = A.load_manifest("folder", tmp_path, group_pattern=r"_g(\d+)_")
    assert [r.group for r in m.records] == ["01", "02", "01"]
    with pytest.raises(DatasetError, match=r"v_Run_g01_c01.avi: the file name does not match"):
        A.load_manifest("folder", tmp_path, group_pattern=r"_actor(\d+)_")
    with pytest.raises(InputError, match="not a regular expression"):
        A.load_manifest("folder", tmp_path, group_pattern=r"_g(\d+_")
    ucf = A.ucf101("/nowhere", split=1, splits_dir=SPLITS / "ucf101", check_files=False)
    assert ucf.records[0].group == "08"  # v_ApplyEyeMakeup_g08_c01.avi
    assert {r.group for r in ucf.split("train")}.isdisjoint({r.group for r in ucf.split("test")})


def _grouped(n_groups: int = 6, per: int = 4, classes: int = 2) -> Manifest:
    recs = [Record(f"g{g}/{k}.avi", k % classes, f"c{k % classes}", "train", key=f"g{g}_{k}",
                   group=f"seq{g}") for g in range(n_groups) for k in range(per)]
    return Manifest([f"c{i}" for i in range(classes)], recs, "folder", "/x")


@pytest.mark.parametrize("fraction,seed", [(0.1, 0), (0.2, 1), (0.34, 2), (0.5, 3)])
def test_validation_split_never_straddles_a_group(fraction: float, seed: int) -> None:
    m = carve_validation(_grouped(), fraction, seed)
    val = {r.group for r in m.split("val")}
    assert val and val.isdisjoint({r.group for r in m.split("train")})
    assert {r.label for r in m.split("val")} == {0, 1}  # stratified: both classes held out
    kept, held = group_holdout([r.label for r in _grouped().records],
                               [r.group for r in _grouped().records], fraction, seed)
    assert len(set(kept) | set(held)) == 24 and not set(kept) & set(held)


def test_trainer_carve_keeps_groups_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The trainer's own carve (a cache without val) moves whole groups too."""
    from types import SimpleNamespace

    import actionlab.data
    from actionlab.train.run import _carve

    recs = _grouped().records
    ds = SimpleNamespace(labels=[r.label for r in recs], records=recs)
    data = SimpleNamespace(kind="frame", val_fraction=0.25, source="cache")
    # the evaluation twin of the train set is only wrapped in a Subset
    monkeypatch.setattr(actionlab.data, "build_dataset", lambda *a, **k: ds)
    tr, va = _carve(SimpleNamespace(dir=tmp_path), data, {}, ds, 0)
    tg = {recs[i].group for i in tr.indices}
    vg = {recs[i].group for i in va.indices}
    assert vg and tg.isdisjoint(vg) and len(tr) + len(va) == len(recs)


def test_leave_one_group_out_gives_the_expected_folds() -> None:
    groups = ["2", "10", "1", "2", "1", "10"]
    folds = group_folds([0, 1, 0, 1, 1, 0], groups, "logo")
    assert [name for name, _, _ in folds] == ["1", "2", "10"]  # natural order
    assert [t.tolist() for _, _, t in folds] == [[2, 4], [0, 3], [1, 5]]
    for _, train, test in folds:
        assert sorted(train.tolist() + test.tolist()) == list(range(6))


def test_stratified_group_kfold_keeps_groups_whole() -> None:
    m = _grouped(n_groups=9, per=4, classes=2)
    labels, groups = [r.label for r in m.records], [r.group for r in m.records]
    folds = group_folds(labels, groups, 3, seed=0)
    seen = np.concatenate([t for _, _, t in folds])
    assert sorted(seen.tolist()) == list(range(36))
    g = np.asarray(groups)
    for name, train, test in folds:
        assert set(g[train]).isdisjoint(g[test]) and "+".join(sorted(set(g[test]))) == name
    with pytest.raises(DatasetError, match="no group"):
        group_folds([0, 1], ["a", ""], "logo")
    with pytest.raises(DatasetError, match="--folds 12"):
        group_folds(labels, groups, 12)
