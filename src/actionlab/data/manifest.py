"""The manifest: one record per video (or still), the common currency of every adapter.

A :class:`Manifest` is what an adapter returns, what ``prepare`` writes (``manifest.json``
next to the cache) and what every dataset reads; later stages never re-scan folders.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from actionlab.errors import DatasetError
from actionlab.io import write_json_atomic

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test", "unused")
MANIFEST_VERSION = 1

# The study's 12 classes shared by Stanford40 and HMDB51, under the synth names.
CANONICAL_12 = (
    "applauding", "climbing", "drinking", "jumping", "pouring", "riding_bike",
    "riding_horse", "running", "shooting", "smoking", "throwing", "waving",
)
STANFORD40_TO_CANONICAL = dict(zip(
    ("applauding", "climbing", "drinking", "jumping", "pouring_liquid", "riding_a_bike",
     "riding_a_horse", "running", "shooting_an_arrow", "smoking", "throwing_frisby",
     "waving_hands"), CANONICAL_12, strict=True))
HMDB51_TO_CANONICAL = dict(zip(
    ("clap", "climb", "drink", "jump", "pour", "ride_bike", "ride_horse", "run", "shoot_bow",
     "smoke", "throw", "wave"), CANONICAL_12, strict=True))
CLASS_MAPS: dict[str, dict[str, str]] = {
    "stanford40_12": STANFORD40_TO_CANONICAL,
    "hmdb51_12": HMDB51_TO_CANONICAL,
}


@dataclass
class Record:
    """One video or still.

    Attributes:
        path: File path (absolute, or relative to the manifest's ``root``).
        label: Class index into the manifest's ``classes``.
        label_name: Class name.
        split: ``train``, ``val``, ``test`` or ``unused``.
        frames: Decodable frame count (``None`` until probed or prepared).
        fps: Frames per second (``None`` until probed; 0 for stills).
        width: Source width (``None`` until probed).
        height: Source height (``None`` until probed).
        key: Unique id, also the cache file name (derived from the path).
        group: Who or what the video came from (actor, sequence, source video); records of
            one group always stay on one side of a split. ``""`` when unknown.
    """

    path: str
    label: int
    label_name: str
    split: str
    frames: int | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    key: str = ""
    group: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_key(rel_path: str | Path) -> str:
    """Cache key of a file: a readable stem of its relative path plus a hash of the whole path.

    The stem (folders joined by ``__``, no extension, odd characters as ``_``) keeps cache
    files recognisable; the 12 hex digits of SHA-1 over the exact path (extension included)
    keep the key injective: ``a b.mp4`` / ``a_b.mp4``, ``c.avi`` / ``c.mp4`` and
    ``x/y__z.mp4`` / ``x__y/z.mp4`` share a stem but never a key.
    """
    rel = Path(rel_path).as_posix()
    stem = "__".join(Path(rel).with_suffix("").parts)
    stem = re.sub(r"[^\w.-]+", "_", stem).strip("._")[:80] or "video"
    return f"{stem}-{hashlib.sha1(rel.encode('utf-8', 'surrogateescape')).hexdigest()[:12]}"


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot name a file inside a cache folder, or ``None`` when it can.

    A key is one file name: no path separators, no leading dot (``..``, hidden or temp
    names), no NUL, at most 200 characters. Anything else could write outside the cache.
    """
    if not key:
        return "empty key"
    if "/" in key or "\\" in key or "\0" in key:
        return "a key is a file name: no '/', '\\' or NUL"
    if key.startswith("."):
        return "a key must not start with '.'"
    if len(key) > 200:
        return "a key is at most 200 characters"
    return None


@dataclass
class Manifest:
    """Records plus the class list and where they came from.

    Attributes:
        classes: Class names; ``label`` indexes this list.
        records: The records.
        dataset: Adapter name (``ucf101``, ``hmdb51``, ...).
        root: Dataset root; relative record paths are under it.
        meta: Free-form provenance (split number, val fraction, seed, ...).
    """

    classes: list[str]
    records: list[Record]
    dataset: str = ""
    root: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> list[Record]:
        """Records of one split."""
        return [r for r in self.records if r.split == name]

    def counts(self) -> dict[str, int]:
        """Records per split."""
        return dict(Counter(r.split for r in self.records))

    def abspath(self, rec: Record) -> Path:
        """Absolute path of a record's file."""
        p = Path(rec.path)
        return p if p.is_absolute() or not self.root else Path(self.root) / p

    def missing(self) -> list[Record]:
        """Records whose file does not exist."""
        return [r for r in self.records if not self.abspath(r).is_file()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": MANIFEST_VERSION,
            "dataset": self.dataset,
            "root": self.root,
            "classes": list(self.classes),
            "meta": self.meta,
            "records": [r.to_dict() for r in self.records],
        }

    def save(self, path: str | Path) -> None:
        """Write as JSON, atomically."""
        write_json_atomic(path, self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "manifest") -> Manifest:
        try:
            records = [Record(**r) for r in d["records"]]
            return cls(
                classes=list(d["classes"]),
                # A hand-written manifest may leave keys out: derive them as adapters do.
                records=[r if r.key else replace(r, key=make_key(r.path)) for r in records],
                dataset=d.get("dataset", ""),
                root=d.get("root", ""),
                meta=dict(d.get("meta", {})),
            )
        except (KeyError, TypeError) as exc:
            raise DatasetError(f"{source}: not an actionlab manifest ({exc})") from None

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        """Read a manifest written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise DatasetError(f"{path}: manifest not found; run `actionlab prepare` first")
        try:
            d = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}: manifest is not valid JSON ({exc})") from None
        return cls.from_dict(d, str(path))


def select_classes(
    manifest: Manifest,
    mapping: Mapping[str, str] | Sequence[str] | str,
    order: Sequence[str] | None = None,
) -> Manifest:
    """Keep a subset of classes, optionally renaming them, and relabel 0..K-1.

    Args:
        manifest: Source manifest.
        mapping: Source name -> new name (several sources may share a new name), a list of
            names to keep unchanged, or the name of a map in :data:`CLASS_MAPS`
            (``stanford40_12``, ``hmdb51_12``).
        order: Order of the new classes; defaults to the order of first appearance in
            ``mapping`` (for the study maps: :data:`CANONICAL_12`).

    Returns:
        A new manifest with only the selected classes.

    Raises:
        DatasetError: A mapped class does not exist in the manifest.
    """
    if isinstance(mapping, str):
        if mapping not in CLASS_MAPS:
            raise DatasetError(f"unknown class map {mapping!r}; known: {', '.join(CLASS_MAPS)}")
        mapping = CLASS_MAPS[mapping]
    if not isinstance(mapping, Mapping):
        mapping = {c: c for c in mapping}
    unknown = sorted(set(mapping) - set(manifest.classes))
    if unknown:
        raise DatasetError(
            f"{manifest.dataset or 'dataset'}: classes {unknown} not found; it has "
            f"{len(manifest.classes)} classes, e.g. {manifest.classes[:5]}"
        )
    new_classes = list(order) if order is not None else list(dict.fromkeys(mapping.values()))
    index = {c: i for i, c in enumerate(new_classes)}
    records = [
        replace(r, label=index[mapping[r.label_name]], label_name=mapping[r.label_name])
        for r in manifest.records
        if r.label_name in mapping
    ]
    meta = {**manifest.meta, "class_map": dict(mapping)}
    return Manifest(new_classes, records, manifest.dataset, manifest.root, meta)


def carve_validation(manifest: Manifest, fraction: float = 0.1, seed: int = 0) -> Manifest:
    """Move a stratified ``fraction`` of the train records to a ``val`` split.

    Uses scikit-learn's ``train_test_split(stratify=labels)``; the same manifest, fraction and
    seed always give the same split. Classes with a single train record stay in train (they
    cannot be stratified). When records carry groups, whole groups move
    (:func:`actionlab.data.groups.group_holdout`): no group is on both sides.

    Args:
        manifest: Manifest with a ``train`` split.
        fraction: Share of train records that become validation (0 < fraction < 1).
        seed: Random seed.

    Returns:
        A new manifest with ``val`` records.
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < fraction < 1.0:
        raise DatasetError(f"validation fraction must be in (0, 1), got {fraction}")
    train_idx = [i for i, r in enumerate(manifest.records) if r.split == "train"]
    if any(manifest.records[i].group for i in train_idx):
        from actionlab.data.groups import group_holdout

        recs = [manifest.records[i] for i in train_idx]
        _, held = group_holdout([r.label for r in recs], [r.group for r in recs], fraction, seed)
        val_idx = [train_idx[j] for j in held]
        return _with_val(manifest, val_idx, fraction, seed)
    counts = Counter(manifest.records[i].label for i in train_idx)
    splittable = [i for i in train_idx if counts[manifest.records[i].label] >= 2]
    labels = [manifest.records[i].label for i in splittable]
    n_classes = len(set(labels))
    n_val = max(round(fraction * len(splittable)), n_classes)
    if len(splittable) - n_val < n_classes:
        raise DatasetError(
            f"{manifest.dataset or 'dataset'}: too few train records ({len(train_idx)}) "
            f"for a stratified validation split of {fraction}"
        )
    _, val_idx = train_test_split(splittable, test_size=n_val, random_state=seed, stratify=labels)
    return _with_val(manifest, val_idx, fraction, seed)


def _with_val(manifest: Manifest, val_idx: Iterable[int], fraction: float, seed: int) -> Manifest:
    val = set(val_idx)
    records = [replace(r, split="val") if i in val else r for i, r in enumerate(manifest.records)]
    meta = {**manifest.meta, "val_fraction": fraction, "val_seed": seed}
    return Manifest(list(manifest.classes), records, manifest.dataset, manifest.root, meta)


def check_files(manifest: Manifest, listed_in: str = "the split files") -> None:
    """Raise a clear :class:`DatasetError` if any record's file is missing."""
    missing = manifest.missing()
    if missing:
        first = manifest.abspath(missing[0])
        raise DatasetError(
            f"{first}: listed in {listed_in} but missing ({len(missing)} of "
            f"{len(manifest.records)} files missing under {manifest.root}); fix the root, or "
            "use --no-check-files to list the splits only (prepare skips and reports them)"
        )


def merge_records(parts: Iterable[Manifest]) -> Manifest:
    """Concatenate manifests over the same classes (e.g. the shards of one prepare run)."""
    parts = list(parts)
    if not parts:
        raise DatasetError("nothing to merge")
    first = parts[0]
    for p in parts[1:]:
        if p.classes != first.classes:
            raise DatasetError("cannot merge manifests with different class lists")
    seen: dict[str, Record] = {}
    for p in parts:
        for r in p.records:
            seen[r.key or r.path] = r
    return Manifest(list(first.classes), list(seen.values()), first.dataset, first.root, first.meta)
