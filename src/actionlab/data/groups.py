"""Groups: which records must stay together on one side of every split.

A record's ``group`` names where it came from (an actor, a recording sequence, a source video).
Clips of one group share faces, clothes, background and camera: a validation or test split
that has them on both sides measures recognition of the group, not of the action. Every split
made here keeps each group whole, with scikit-learn's group-aware splitters.

Records with an empty group count as a group of their own (nothing is known to tie them to
another record), so a manifest without any groups splits exactly like one record per group.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from actionlab.data.manifest import Manifest
from actionlab.errors import DatasetError, InputError

# UCF101 (`v_ApplyEyeMakeup_g08_c01.avi`) and the HMDB51-style `_gNN_` group convention.
GNN_PATTERN = r"_g(\d+)_"
# UT-Interaction segmented clips: `<clip>_<sequence>_<class>.avi`, the sequence is the group.
UT_INTERACTION_PATTERN = r"^\d+_(\d+)_"


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The compiled group pattern; a clear :class:`InputError` when it is not a regex."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InputError(f"group pattern {pattern!r} is not a regular expression ({exc})") from None


def group_of(name: str, pattern: re.Pattern[str]) -> str | None:
    """The group a file name gives: the pattern's first capture group, else its whole match.

    The pattern is searched in the file's name first, then in its whole path (so a pattern
    may name a folder). None when it matches neither.
    """
    for text in (Path(name).name, Path(name).as_posix()):
        m = pattern.search(text)
        if m:
            return m.group(1) if m.groups() else m.group(0)
    return None


def apply_group_pattern(manifest: Manifest, pattern: str, required: bool = True) -> Manifest:
    """Set every record's ``group`` from its file name.

    Args:
        manifest: The manifest.
        pattern: A regular expression, searched in each file's name (then its path); its
            first capture group, or the whole match, is the group (UT-Interaction:
            ``^\\d+_(\\d+)_``; UCF101: ``_g(\\d+)_``).
        required: Raise when a file name does not match (else its group stays as it was).

    Returns:
        A new manifest.

    Raises:
        DatasetError: A file name does not match (naming the file).
    """
    rx = compile_pattern(pattern)
    records = []
    for rec in manifest.records:
        group = group_of(rec.path, rx)
        if group is None or group == "":
            if required:
                raise DatasetError(f"{manifest.abspath(rec)}: the file name does not match the "
                                   f"group pattern {pattern!r} (or gives an empty group)")
            records.append(rec)
            continue
        records.append(replace(rec, group=group))
    meta = {**manifest.meta, "group_pattern": pattern}
    return Manifest(list(manifest.classes), records, manifest.dataset, manifest.root, meta)


def group_ids(groups: Sequence[str]) -> list[str]:
    """Groups for scikit-learn: an empty group becomes one of its own."""
    return [g if g else f"\0record-{i}" for i, g in enumerate(groups)]


def natural_key(text: str) -> tuple:
    """Sort key that puts ``2`` before ``10``."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text))


def group_holdout(labels: Sequence[int], groups: Sequence[str], fraction: float,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Hold out about ``fraction`` of the records, whole groups only, stratified by label.

    The held-out part is the first fold of a shuffled ``StratifiedGroupKFold`` with
    ``round(1 / fraction)`` folds (at most one per group).

    Returns:
        ``(kept, held_out)`` index arrays, sorted.

    Raises:
        DatasetError: Fewer than two groups.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    ids = group_ids(groups)
    n_groups = len(set(ids))
    if n_groups < 2:
        raise DatasetError(f"only {n_groups} group: a group-aware validation split needs two")
    k = min(max(2, round(1.0 / fraction)), n_groups)
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # "least populated class has fewer than n_splits members"
        warnings.simplefilter("ignore", UserWarning)
        kept, held = next(splitter.split(np.zeros(len(ids)), np.asarray(labels), ids))
    return np.sort(kept), np.sort(held)


def group_folds(labels: Sequence[int], groups: Sequence[str], folds: str | int,
                seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Cross-validation folds that never split a group.

    Args:
        labels: Class index per record.
        groups: Group per record (every record needs one).
        folds: ``"logo"`` (leave one group out: one fold per group, in natural group order)
            or K (stratified group K-fold, shuffled with ``seed``).
        seed: Seed of the K-fold shuffle.

    Returns:
        ``[(name, train_indices, test_indices)]``: the name is the held-out group (logo) or
        the groups joined by ``+`` (K-fold).

    Raises:
        DatasetError: A record has no group, or there are too few groups.
    """
    labels_a = np.asarray(labels)
    groups_l = list(groups)
    if any(not g for g in groups_l):
        i = next(i for i, g in enumerate(groups_l) if not g)
        raise DatasetError(f"record {i} has no group: give a group pattern (--group-pattern or "
                           "data.group_pattern) or a group column")
    names = sorted(set(groups_l), key=natural_key)
    ga = np.asarray(groups_l, dtype=object)
    out: list[tuple[str, np.ndarray, np.ndarray]] = []
    if str(folds).lower() == "logo":
        if len(names) < 2:
            raise DatasetError(f"leave-one-group-out needs two groups, found {names}")
        for name in names:
            test = np.flatnonzero(ga == name)
            out.append((name, np.flatnonzero(ga != name), test))
        return out
    try:
        k = int(folds)
    except (TypeError, ValueError):
        raise InputError(f"--folds {folds!r}: expected logo or a number of folds") from None
    if not 2 <= k <= len(names):
        raise DatasetError(f"--folds {k}: need 2 <= K <= the number of groups ({len(names)})")
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for train, test in splitter.split(np.zeros(len(ga)), labels_a, groups_l):
            held = sorted(set(ga[test]), key=natural_key)
            out.append(("+".join(held), np.sort(train), np.sort(test)))
    return out


__all__ = ["GNN_PATTERN", "UT_INTERACTION_PATTERN", "apply_group_pattern", "group_folds",
           "group_holdout", "group_of"]
