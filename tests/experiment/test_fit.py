"""``actionlab fit``: nested group CV that never lets a test clip choose, resumable, honest
errors, and a final run folder that is the fitted classifier."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from actionlab.errors import DatasetError, InputError
from actionlab.experiment import fit as fitlib

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
GROUPS = ("1", "2", "3", "4")
CLASSES = ("across", "down")


def _write_video(path: Path, vertical: int, seed: int, n: int = 12, w: int = 64,
                 h: int = 48) -> None:
    """A textured square sliding across (``vertical`` 0) or down (1) a group's background
    (classes a mirror does not change: training mirrors clips)."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    bg = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3)).astype(np.uint8), (0, 0), 1.5)
    patch = rng.integers(0, 255, (14, 14, 3)).astype(np.uint8)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    x0, y0 = int(rng.integers(4, w - 18)), int(rng.integers(4, h - 18))
    for i in range(n):
        f = bg.copy()
        x = (x0 + 3 * i) % (w - 14) if not vertical else x0
        y = (y0 + 2 * i) % (h - 14) if vertical else y0
        f[y:y + 14, x:x + 14] = patch
        out.write(f)
    out.release()


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 classes x 4 groups x 2 clips: ``<clip>_<group>_<class>.avi``."""
    root = tmp_path_factory.mktemp("fitdata")
    for g in GROUPS:
        for c, name in enumerate(CLASSES):
            for k in range(2):
                _write_video(root / name / f"{k}_{g}_{c}.avi", c, seed=int(g) * 10 + k)
    return root


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small search space over a 4-segment, 48x64 base: 2 grids x 2 ridge strengths."""
    d = tmp_path_factory.mktemp("space")
    base = {"base": str(CONFIGS / "motionhist_32seg_adamw_ut_interaction-flow.yaml"),
            "data": {"size": [48, 64], "segments": 4, "batch_size": 4},
            "model": {"kwargs": {"num_segments": 4, "grid": [2, 2, 2], "bins": 4,
                                 "input_size": [48, 64]}}}
    (d / "base.yaml").write_text(yaml.safe_dump(base))
    doc = {"base": "base.yaml", "model": "motion_histograms", "views": 2, "inner_folds": "logo",
           "flow_method": ["dis"], "grid": [[2, 2, 2], [1, 1, 1]], "parts": [["hof", "mbh"]],
           "bins": [4], "ridge_alpha": [1.0, 100.0], "logistic_C": [0.1]}
    (d / "space.yaml").write_text(yaml.safe_dump(doc))
    return d / "space.yaml"


PATTERN = r"^\d+_(\d+)_"


@pytest.fixture(scope="module")
def fitted(tree: Path, space: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("fit") / "out"
    sels: list[fitlib.Selector] = []
    doc = fitlib.run_fit(tree, out, PATTERN, "logo", space, budget=None, workers=1,
                         progress=False, selector_hook=sels.append)
    return out, doc, sels[0]


def test_no_test_clip_takes_part_in_any_choice(fitted, tree):
    out, doc, sel = fitted
    _, m = fitlib.load_data(tree, PATTERN)
    groups = np.array([r.group for r in m.records])
    assert len(doc["outer"]) == len(GROUPS)
    checked = 0
    for i, g in enumerate(GROUPS):
        test = set(np.flatnonzero(groups == g).tolist())
        calls = [(what, idx) for ctx, what, idx in sel.seen if ctx.startswith(f"outer-{i}")
                 and not ctx.endswith("-test")]
        assert calls, f"fold {i} made no choice"
        for what, idx in calls:  # every fit and every inner scoring of this outer fold
            assert not test & set(idx.tolist()), (i, what)
            checked += 1
        inner_scores = [idx for ctx, what, idx in sel.seen if ctx == f"outer-{i}"
                        and what == "score"]
        # the inner test clips of this fold are exactly its training part, each once per
        # candidate: every training clip helped choose, no other clip did
        n_cands = len(doc["candidates"])
        got = np.sort(np.concatenate(inner_scores))
        want = np.sort(np.repeat(sorted(set(range(len(groups))) - test), n_cands))
        np.testing.assert_array_equal(got, want)
    assert checked > 20
    first_test = set(np.flatnonzero(groups == GROUPS[0]).tolist())
    timing = [idx for ctx, _, idx in sel.seen if ctx == "timing"]
    assert timing and not any(first_test & set(idx.tolist()) for idx in timing)


def test_fit_json_has_the_outer_figure_and_per_fold_choices(fitted):
    out, doc, _ = fitted
    on_disk = json.loads((out / "fit.json").read_text())
    assert on_disk["mean"] == pytest.approx(doc["mean"])
    tops = [r["top1"] for r in on_disk["outer"]]
    assert on_disk["mean"] == pytest.approx(np.mean(tops))
    assert on_disk["std"] == pytest.approx(np.std(tops))
    assert on_disk["mean"] >= 0.75  # the direction of motion is plain in the flow
    assert np.asarray(on_disk["confusion"]).sum() == 16
    assert len(on_disk["candidates"]) == 6 and on_disk["trimmed"] == []
    assert all(r["chosen"] in on_disk["candidates"] for r in on_disk["outer"])
    assert "Outer top-1" in (out / "fit.md").read_text()


def test_final_run_folder_is_the_fitted_classifier(fitted, tree):
    """The run folder's model on the cached test samples gives the fitted classifier's
    scores (times its temperature), and actionlab.load predicts videos with it."""
    import torch

    import actionlab
    from actionlab.checkpoint import load as load_ckpt
    from actionlab.data import build_dataset
    from actionlab.data.cache import Cache

    out, doc, sel = fitted
    chosen = fitlib.Candidate(**{k: (tuple(v) if isinstance(v, list) else v)
                                 for k, v in doc["final"]["chosen"].items() if k != "name"})
    f = sel.features[chosen.descriptor]
    fitted_c = fitlib.fit_candidate(f, sel.labels, np.arange(len(sel.labels)), chosen.classifier,
                                    chosen.strength, 2)
    loaded = load_ckpt(out / "model")
    meta = loaded.meta
    t = meta["fit"]["temperature"]
    cache = Cache(out / "model-cache")
    ds = build_dataset(cache, loaded.spec, "train", train=False)
    x = torch.stack([torch.as_tensor(ds[i][0]) for i in range(len(ds))]).float()
    with torch.no_grad():
        logits = loaded.model.eval()(x).numpy()
    np.testing.assert_allclose(logits, t * fitted_c.scores(f.test), rtol=1e-3, atol=1e-3)
    rec = actionlab.load(out / "model")
    assert rec.classes == list(CLASSES)
    videos = [Path(cache.manifest.abspath(r)) for r in ds.records]
    preds = rec.predict(videos, k=1)  # decoded and flowed again, as for a user's file
    agree = [p.topk[0][0] == CLASSES[int(i)] for p, i in zip(preds, logits.argmax(1))]
    assert sum(agree) >= len(agree) - 1


def test_a_killed_fit_resumes_without_redoing_finished_folds(fitted, tree, space):
    out, doc, _ = fitted
    keep = out / "folds" / "fold-00.json"
    before = keep.stat().st_mtime_ns
    (out / "folds" / "fold-02.json").unlink()  # as if killed during fold 2
    (out / "fit.json").unlink()
    sels: list[fitlib.Selector] = []
    again = fitlib.run_fit(tree, out, PATTERN, "logo", space, budget=None, workers=1,
                           progress=False, selector_hook=sels.append)
    contexts = {ctx for ctx, _, _ in sels[0].seen}
    assert contexts == {"outer-2", "outer-2-refit"}  # nothing else was fitted again
    assert keep.stat().st_mtime_ns == before
    assert again["mean"] == pytest.approx(doc["mean"])


def _space_with(space: Path, tmp_path: Path, **changes) -> Path:
    doc = yaml.safe_load(space.read_text())
    doc["base"] = str(space.parent / "base.yaml")
    doc.update(changes)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize("changes, words", [
    ({"model": "no_such_net"}, "unknown model 'no_such_net'"),
    ({"model": "resnet18"}, "descriptor models"),
    ({"colour": "blue"}, "unknown key 'colour'"),
    ({"flow_method": ["dis+affine"]}, "unknown flow method"),
    ({"ridge_alpha": [], "logistic_C": []}, "no classifier"),
])
def test_a_bad_search_space_is_one_line_naming_the_file(space, tmp_path, tree, changes, words):
    bad = _space_with(space, tmp_path, **changes)
    with pytest.raises(InputError, match=words) as err:
        fitlib.run_fit(tree, tmp_path / "out", PATTERN, search=bad, progress=False)
    assert str(bad) in str(err.value)
    assert not (tmp_path / "out").exists()  # refused before any work


def test_one_group_only_is_refused(tree, space, tmp_path):
    with pytest.raises(DatasetError, match="nested cross-validation needs at least 3"):
        fitlib.run_fit(tree, tmp_path / "out", r"^\d+_\d+_(\d)", search=space, progress=False)
    assert not (tmp_path / "out").exists()


def test_a_class_in_one_group_is_refused(tmp_path, space):
    root = tmp_path / "data"
    for g in ("1", "2", "3"):
        _write_video(root / "across" / f"0_{g}_0.avi", 0, 1, n=4)
    _write_video(root / "down" / "0_1_1.avi", 1, 1, n=4)
    with pytest.raises(DatasetError, match="class 'down' is in 1 group"):
        fitlib.run_fit(root, tmp_path / "out", PATTERN, search=space, progress=False)


def test_a_budget_too_small_for_one_candidate_is_refused(tree, space, tmp_path):
    with pytest.raises(InputError, match="too small for even one candidate"):
        fitlib.run_fit(tree, tmp_path / "out", PATTERN, search=space, budget="1s",
                       progress=False)
    assert not (tmp_path / "out").exists()


def test_budget_trims_the_search_from_the_end():
    cands = [fitlib.Candidate("dis", (1, 1, 1), ("hof",), 8, "ridge", a) for a in (1, 10, 100)]
    kept, trimmed = fitlib.trim_candidates(cands, budget_left=10.0, fit_seconds=1.0,
                                           fits_per_candidate=4)
    assert kept == cands[:2] and trimmed == cands[2:]
    assert fitlib.trim_candidates(cands, None, 1.0, 4) == (cands, [])
    assert fitlib.trim_candidates(cands, 0.5, 1.0, 4)[0] == cands[:1]  # never zero
    assert fitlib.parse_budget("30m") == 1800 and fitlib.parse_budget("none") is None
    with pytest.raises(InputError, match="--budget"):
        fitlib.parse_budget("soon")
