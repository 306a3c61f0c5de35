"""Dataset adapters: each reads one dataset's own layout and split files into a :class:`Manifest`.

Every adapter takes ``check_files``: when true (the default) a file named by the split files
but absent raises a :class:`DatasetError` naming it; when false the split files alone are
parsed (no videos needed), and ``prepare`` later skips and reports what is missing.
Frame counts, fps and sizes are left ``None`` here; ``prepare`` fills them by decoding.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from actionlab.data.manifest import Manifest, Record, carve_validation, check_files as _check
from actionlab.data.groups import GNN_PATTERN, apply_group_pattern, compile_pattern, group_of
from actionlab.data.manifest import SPLITS, make_key, select_classes
from actionlab.data.video import IMAGE_EXTS, VIDEO_EXTS
from actionlab.errors import DatasetError

ADAPTERS: dict[str, Callable[..., Manifest]] = {}
_GNN = compile_pattern(GNN_PATTERN)


def adapter(name: str) -> Callable[[Callable[..., Manifest]], Callable[..., Manifest]]:
    """Register an adapter under ``name`` (refusing duplicates)."""

    def deco(fn: Callable[..., Manifest]) -> Callable[..., Manifest]:
        if name in ADAPTERS:
            raise ValueError(f"adapter {name!r} registered twice")
        ADAPTERS[name] = fn
        return fn

    return deco


def _lines(path: Path) -> list[tuple[int, str]]:
    """Non-empty lines with their 1-based numbers ('#' is not a comment: HMDB names use it)."""
    if not path.is_file():
        raise DatasetError(f"{path}: split file not found")
    text = path.read_text(encoding="utf-8", errors="replace")
    return [(i, ln.strip()) for i, ln in enumerate(text.splitlines(), 1) if ln.strip()]


def _find_dir(root: Path, splits_dir: str | Path | None, probe: str, names: tuple[str, ...]) -> Path:
    """The folder holding split files: ``splits_dir`` or the first of ``names`` under root."""
    candidates = [Path(splits_dir)] if splits_dir else [root / n for n in names] + [root]
    for c in candidates:
        if list(c.glob(probe)):
            return c
    raise DatasetError(
        f"{candidates[0]}: no split files matching {probe!r}; pass splits_dir=<folder with them>"
    )


def _gnn(rel: str) -> str:
    """The ``_gNN_`` group of a UCF101-style file name ("" when it has none)."""
    return group_of(rel, _GNN) or ""


def _finish(m: Manifest, check_files: bool, listed_in: str) -> Manifest:
    if check_files:
        _check(m, listed_in)
    return m


@adapter("ucf101")
def ucf101(
    root: str | Path, split: int = 1, splits_dir: str | Path | None = None, check_files: bool = True
) -> Manifest:
    """UCF101: ``classInd.txt`` and ``trainlist0{k}.txt`` / ``testlist0{k}.txt``.

    Args:
        root: Folder with one sub-folder per class (``ApplyEyeMakeup/v_..._g08_c01.avi``).
        split: 1, 2 or 3.
        splits_dir: Folder with the split files; default ``root/ucfTrainTestlist`` or ``root``.
        check_files: Raise if a listed video is missing.

    Returns:
        Manifest with ``train`` and ``test`` records over 101 classes.
    """
    if split not in (1, 2, 3):
        raise DatasetError(f"UCF101 split must be 1, 2 or 3, got {split}")
    root = Path(root)
    sdir = _find_dir(root, splits_dir, "classInd.txt", ("ucfTrainTestlist", "splits"))
    classes: list[str] = []
    for ln_no, line in _lines(sdir / "classInd.txt"):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) != len(classes) + 1:
            raise DatasetError(f"{sdir / 'classInd.txt'}:{ln_no}: expected '<index> <class>', got {line!r}")
        classes.append(parts[1])
    index = {c: i for i, c in enumerate(classes)}
    records: list[Record] = []
    for split_name, fname in (("train", f"trainlist0{split}.txt"), ("test", f"testlist0{split}.txt")):
        f = sdir / fname
        for ln_no, line in _lines(f):
            rel = line.split()[0]
            cls = rel.split("/")[0]
            if cls not in index:
                raise DatasetError(f"{f}:{ln_no}: unknown class {cls!r} (not in classInd.txt)")
            records.append(Record(rel, index[cls], cls, split_name, key=make_key(rel),
                                  group=_gnn(rel)))
    m = Manifest(classes, records, "ucf101", str(root), {"split": split})
    return _finish(m, check_files, f"{sdir}/*list0{split}.txt")


@adapter("hmdb51")
def hmdb51(
    root: str | Path,
    split: int = 1,
    splits_dir: str | Path | None = None,
    check_files: bool = True,
    include_unused: bool = True,
) -> Manifest:
    """HMDB51: per-class ``<class>_test_split{k}.txt`` (1 train, 2 test, 0 unused).

    Args:
        root: Folder with one sub-folder per class (``wave/<name>.avi``).
        split: 1, 2 or 3.
        splits_dir: Folder with the split files; default ``root/testTrainMulti_7030_splits``,
            ``root/splits`` or ``root``.
        check_files: Raise if a listed (train or test) video is missing.
        include_unused: Keep id-0 videos as split ``unused``.

    Returns:
        Manifest over the classes found in the split files, sorted by name.
    """
    if split not in (1, 2, 3):
        raise DatasetError(f"HMDB51 split must be 1, 2 or 3, got {split}")
    root = Path(root)
    pattern = f"*_test_split{split}.txt"
    sdir = _find_dir(root, splits_dir, pattern, ("testTrainMulti_7030_splits", "splits"))
    files = sorted(sdir.glob(pattern))
    classes = sorted(f.name[: -len(f"_test_split{split}.txt")] for f in files)
    known = sdir / "class_list.txt"
    if known.is_file():
        allowed = {ln for _, ln in _lines(known)}
        for c in classes:
            if c not in allowed:
                raise DatasetError(f"{sdir / (c + f'_test_split{split}.txt')}: unknown class {c!r} "
                                   f"(not in {known})")
    index = {c: i for i, c in enumerate(classes)}
    names = {"1": "train", "2": "test", "0": "unused"}
    records: list[Record] = []
    for cls in classes:
        f = sdir / f"{cls}_test_split{split}.txt"
        for ln_no, line in _lines(f):
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2 or parts[1] not in names:
                raise DatasetError(f"{f}:{ln_no}: expected '<video> <0|1|2>', got {line!r}")
            if parts[1] == "0" and not include_unused:
                continue
            rel = f"{cls}/{parts[0]}"
            records.append(Record(rel, index[cls], cls, names[parts[1]], key=make_key(rel),
                                  group=_gnn(rel)))
    m = Manifest(classes, records, "hmdb51", str(root), {"split": split})
    if check_files:
        _check(Manifest(classes, [r for r in records if r.split != "unused"], "hmdb51", str(root)),
               f"{sdir}/{pattern}")
    return m


@adapter("stanford40")
def stanford40(root: str | Path, check_files: bool = True) -> Manifest:
    """Stanford40 stills: ``ImageSplits/actions.txt``, ``<action>_{train,test}.txt``, ``JPEGImages/``.

    Each image becomes a one-frame record.

    Args:
        root: Folder holding ``ImageSplits`` and ``JPEGImages``.
        check_files: Raise if a listed image is missing.
    """
    root = Path(root)
    sdir = root / "ImageSplits"
    if not sdir.is_dir():
        raise DatasetError(f"{sdir}: not found; root must hold ImageSplits/ and JPEGImages/")
    lines = _lines(sdir / "actions.txt")
    classes = [ln.split()[0] for _, ln in lines if not ln.lower().startswith("action_name")]
    records: list[Record] = []
    for label, cls in enumerate(classes):
        for split_name in ("train", "test"):
            f = sdir / f"{cls}_{split_name}.txt"
            for _, line in _lines(f):
                rel = f"JPEGImages/{line.split()[0]}"
                records.append(Record(rel, label, cls, split_name, frames=1, fps=0.0,
                                      key=make_key(rel)))
    m = Manifest(classes, records, "stanford40", str(root))
    return _finish(m, check_files, f"{sdir}/*_{{train,test}}.txt")


_KINETICS_SPLITS = {"train": "train", "val": "val", "validate": "val", "valid": "val",
                    "validation": "val", "test": "test"}


def _kinetics_name(yid: str, start: float, end: float, ext: str) -> str:
    return f"{yid}_{int(float(start)):06d}_{int(float(end)):06d}{ext}"


@adapter("kinetics")
def kinetics(
    root: str | Path,
    csv_path: str | Path | None = None,
    check_files: bool = True,
    ext: str = ".mp4",
    skip_missing: bool = False,
) -> Manifest:
    """Kinetics-style CSV (``label,youtube_id,time_start,time_end,split``).

    Videos are ``<youtube_id>_<start:06d>_<end:06d>.mp4`` found in any of the usual layouts:
    ``root/<split>/<label>/``, ``root/<label>/``, ``root/<split>/``, or flat in ``root``
    (label folders with spaces or underscores both work).

    Args:
        root: Folder with the videos.
        csv_path: The annotation CSV; default: the only ``*.csv`` in ``root``.
        check_files: Raise if a listed video is missing.
        ext: Video extension.
        skip_missing: Drop missing videos silently instead (downloads are always incomplete).

    Returns:
        Manifest with classes sorted by name.
    """
    root = Path(root)
    if csv_path is None:
        found = sorted(root.glob("*.csv"))
        if len(found) != 1:
            raise DatasetError(f"{root}: pass csv_path (found {len(found)} CSV files)")
        csv_path = found[0]
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path}: annotation CSV not found")
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    need = {"label", "youtube_id", "time_start", "time_end"}
    if not rows or not need <= set(rows[0]):
        raise DatasetError(f"{csv_path}: expected columns {sorted(need)} (+ split)")
    classes = sorted({r["label"] for r in rows})
    index = {c: i for i, c in enumerate(classes)}
    default_split = _KINETICS_SPLITS.get(csv_path.stem.lower(), "train")
    records: list[Record] = []
    for row in rows:
        raw_split = (row.get("split") or default_split).strip().lower()
        split = _KINETICS_SPLITS.get(raw_split, raw_split)
        name = _kinetics_name(row["youtube_id"], row["time_start"], row["time_end"], ext)
        label = row["label"]
        rel = _locate(root, name, label, raw_split)
        if rel is None:
            if skip_missing:
                continue
            rel = f"{raw_split}/{label}/{name}"
        records.append(Record(rel, index[label], label, split, key=make_key(name)))
    m = Manifest(classes, records, "kinetics", str(root), {"csv": str(csv_path)})
    return _finish(m, check_files, str(csv_path))


def _locate(root: Path, name: str, label: str, split: str) -> str | None:
    labels = dict.fromkeys([label, label.replace(" ", "_"), label.replace("_", " ")])
    splits = dict.fromkeys([split, "val" if split.startswith("valid") else split, "validate"])
    candidates = [f"{s}/{lab}/{name}" for s in splits for lab in labels]
    candidates += [f"{lab}/{name}" for lab in labels] + [f"{s}/{name}" for s in splits] + [name]
    for c in candidates:
        if (root / c).is_file():
            return c
    return None


CSV_COLUMNS = ("path", "label", "split", "group")


@adapter("csv")
def csv_manifest(
    root: str | Path,
    csv_path: str | Path | None = None,
    check_files: bool = True,
    group_column: str = "group",
) -> Manifest:
    """A CSV list of videos: ``path,label[,split][,group]`` plus any columns of your own.

    ``path`` is absolute or relative to the CSV's folder; ``split`` is ``train`` (when empty
    or absent), ``val``, ``test`` or ``unused``; ``group`` (or the column ``group_column``
    names, e.g. ``sequence``) is the actor, sequence or source the video came from. Other
    columns are kept as metadata: ``meta["columns"]`` names them and ``meta["extra"][key]``
    holds each record's values.

    Args:
        root: The CSV file, or a folder holding exactly one CSV.
        csv_path: The CSV when ``root`` is a folder holding several.
        check_files: Raise if a listed file is missing.
        group_column: The column holding the groups.

    Returns:
        Manifest with classes sorted by name, rooted at the CSV's folder.

    Raises:
        DatasetError: Naming the file and row: missing or unnamed columns, an empty path,
            label or group, an unknown split, a duplicate or missing file, a label found only
            in the test split.
    """
    path = _csv_file(Path(root), csv_path)
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    _check_header(path, header, group_column)
    col = {name: i for i, name in enumerate(header)}
    extras = [h for h in header if h not in ("path", "label", "split", group_column)]
    base = path.parent
    found: list[tuple[int, str, str, str, str, dict[str, str]]] = []
    for line, row in rows:
        if len(row) != len(header):
            raise DatasetError(f"{path}:{line}: {len(row)} fields, the header has {len(header)}")
        get = {h: row[i].strip() for h, i in col.items()}
        for name in ("path", "label"):
            if not get[name]:
                raise DatasetError(f"{path}:{line}: empty {name}")
        split = (get.get("split") or "train").lower()
        if split not in SPLITS:
            raise DatasetError(f"{path}:{line}: split {get['split']!r} is not one of "
                               f"{', '.join(SPLITS)}")
        group = get.get(group_column, "")
        if group_column in col and not group:
            raise DatasetError(f"{path}:{line}: empty {group_column!r} (the CSV has a group "
                               "column, so every row needs a group)")
        if check_files:
            file = Path(get["path"]) if Path(get["path"]).is_absolute() else base / get["path"]
            if not file.is_file():
                raise DatasetError(f"{path}:{line}: {file}: file not found")
        found.append((line, get["path"], get["label"], split, group, {h: get[h] for h in extras}))
    if not found:
        raise DatasetError(f"{path}: no rows under the header")
    _check_test_labels(path, found)
    classes = sorted({label for _, _, label, _, _, _ in found})
    index = {c: i for i, c in enumerate(classes)}
    records: list[Record] = []
    extra: dict[str, dict[str, str]] = {}
    lines: dict[str, int] = {}
    for line, rel, label, split, group, more in found:
        p = Path(rel)
        key = make_key(p.relative_to(p.anchor) if p.is_absolute() else p)
        if key in lines:
            raise DatasetError(f"{path}:{line}: {rel!r} is listed twice (first on line "
                               f"{lines[key]})")
        lines[key] = line
        records.append(Record(rel, index[label], label, split, key=key, group=group))
        if more:
            extra[key] = more
    meta: dict[str, Any] = {"csv": str(path)}
    if extras:
        meta.update(columns=extras, extra=extra)
    return Manifest(classes, records, "csv", str(base), meta)


def _csv_file(root: Path, csv_path: str | Path | None) -> Path:
    if csv_path is not None:
        path = Path(csv_path)
    elif root.is_dir():
        found = sorted(root.glob("*.csv"))
        if len(found) != 1:
            raise DatasetError(f"{root}: pass the CSV itself (found {len(found)} CSV files)")
        path = found[0]
    else:
        path = root
    if not path.is_file():
        raise DatasetError(f"{path}: manifest CSV not found")
    return path


def _check_header(path: Path, header: list[str], group_column: str) -> None:
    for i, name in enumerate(header, 1):
        if not name:
            raise DatasetError(f"{path}:1: column {i} has no name (header {','.join(header)})")
        if header.count(name) > 1:
            raise DatasetError(f"{path}:1: column {name!r} appears twice")
    missing = [c for c in ("path", "label") if c not in header]
    if missing:
        raise DatasetError(f"{path}:1: missing column(s) {', '.join(missing)}; the header must "
                           f"name path,label[,split][,{group_column}] (got {','.join(header)})")


def _check_test_labels(path: Path, found: list[tuple]) -> None:
    """A class that only test rows have cannot be learnt: name the first such row."""
    trained = {label for _, _, label, split, _, _ in found if split in ("train", "val")}
    if not trained:
        return  # a test-only list (scored by a model trained elsewhere)
    for line, _, label, split, _, _ in found:
        if split == "test" and label not in trained:
            raise DatasetError(f"{path}:{line}: label {label!r} appears only in the test split "
                               "(no train or val row has it)")


def _media(folder: Path, stills: bool) -> list[Path]:
    exts = VIDEO_EXTS | (IMAGE_EXTS if stills else frozenset())
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in exts and p.is_file())


@adapter("folder")
def folder(root: str | Path, stills: bool = True, check_files: bool = True) -> Manifest:
    """Any folder-per-class tree: ``root/<class>/<file>`` (nested files are found too).

    If ``root`` holds ``train``/``val``/``test`` folders, each is such a tree and gives that
    split; otherwise every file is ``train`` (carve a validation split with ``val_fraction``).

    Args:
        root: The tree.
        stills: Include images as one-frame records.
        check_files: Unused (files come from the disk); kept for a uniform signature.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found")
    split_dirs = {s: root / d for d, s in _KINETICS_SPLITS.items() if (root / d).is_dir()}
    trees = split_dirs or {"train": root}
    found: list[tuple[str, str, str]] = []  # (rel path, class, split)
    for split, tree in trees.items():
        for cdir in sorted(p for p in tree.iterdir() if p.is_dir()):
            for f in _media(cdir, stills):
                found.append((f.relative_to(root).as_posix(), cdir.name, split))
    if not found:
        raise DatasetError(f"{root}: no videos or images in class folders (root/<class>/<file>)")
    classes = sorted({c for _, c, _ in found})
    index = {c: i for i, c in enumerate(classes)}
    records = [Record(rel, index[c], c, s, key=make_key(rel)) for rel, c, s in found]
    return Manifest(classes, records, "folder", str(root))


def load_manifest(
    dataset: str,
    root: str | Path,
    classes: Any = None,
    val_fraction: float | None = None,
    seed: int = 0,
    group_pattern: str | None = None,
    **options: Any,
) -> Manifest:
    """Build a manifest with a named adapter, then subset/rename classes and carve validation.

    Args:
        dataset: Adapter name: one of :data:`ADAPTERS` (``ucf101``, ``hmdb51``, ``stanford40``,
            ``kinetics``, ``folder``, ``csv``), or ``manifest`` to read a saved manifest at
            ``root``.
        root: Dataset root (or the manifest file).
        classes: Passed to :func:`~actionlab.data.manifest.select_classes` (a map name such as
            ``hmdb51_12``, a dict, or a list of names).
        val_fraction: Carve this stratified share of train into ``val``.
        seed: Seed of the validation split.
        group_pattern: Take each record's group from its file name with this regular
            expression (see :func:`~actionlab.data.groups.apply_group_pattern`); every file
            must match. Groups keep validation and cross-validation splits apart.
        **options: Adapter options (``split``, ``splits_dir``, ``check_files``, ``csv_path``,
            ``group_column``).

    Returns:
        The manifest.
    """
    if dataset == "manifest":
        m = Manifest.load(root)
    elif dataset not in ADAPTERS:
        raise DatasetError(f"unknown dataset {dataset!r}; choose one of {', '.join(ADAPTERS)}")
    else:
        m = ADAPTERS[dataset](root, **options)
    if group_pattern:
        m = apply_group_pattern(m, group_pattern)
    if classes:
        m = select_classes(m, classes)
    if val_fraction:
        m = carve_validation(m, val_fraction, seed)
    return m




from actionlab.data import falls as _falls  # noqa: E402,F401  (registers fall_windows)
