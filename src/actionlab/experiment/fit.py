"""``actionlab fit DATA --out DIR``: an honest figure and a deployable model from labelled videos.

Nested group cross-validation over a declared search space (``configs/search/fit_motionhist.yaml``
by default):

1. the data set is listed (a folder of class folders with ``--group-pattern``, a CSV manifest
   ``path,label,group``, or UCF101-style ``_gNN_`` names), checked (two groups at least, each
   class in two groups at least, a budget that can hold one candidate) before any long work;
2. each flow method of the space is prepared once into ``DIR/cache-<method>`` (resumed), and the
   descriptors of every (flow, grid, parts, bins) are computed once per clip
   (``DIR/features-*.npz``): ``views`` random training samples (a random flow frame per segment,
   random mirror, as the trainer samples) and the deterministic test sample (as predict samples);
3. **outer folds** (leave one group out, or K group folds) give the reported figure: inside each
   outer training part, **inner group folds** score every candidate, the best is refitted on the
   whole training part and tested on the held-out group; no test clip takes part in any choice.
   A finished fold is ``DIR/folds/fold-NN.json``: a rerun skips it;
4. selection runs once more on all the data and the winner is trained into ``DIR/model``, a
   normal run folder (motion-histogram model, its standardisation and classifier set to the
   fitted ones) that predict, timeline, serve, export and report take as they are;
5. ``DIR/fit.json`` (top-level ``mean`` and ``std``: top-1 over outer folds) and ``DIR/fit.md``.

The classifier of a candidate is scikit-learn's multinomial logistic regression on the
standardised square-rooted histograms: exactly the motion-histogram model's head (batch-norm
statistics then one linear layer), so the fitted numbers are copied into it unchanged.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from actionlab.config import ExperimentConfig, load_config
from actionlab.data.manifest import Manifest
from actionlab.errors import DatasetError, InputError
from actionlab.io import atomic_path, write_json_atomic, write_text_atomic
from actionlab.metrics import softmax

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
DEFAULT_SPACE = CONFIG_DIR / "search" / "fit_motionhist.yaml"
SPACE_KEYS = ("base", "model", "views", "inner_folds", "flow_method", "grid", "parts", "bins",
              "ridge_alpha", "logistic_C")
DESCRIPTOR_MODELS = ("motion_histograms",)
EPS = 1e-5  # the motion-histogram model's batch-norm eps: standardisation uses the same
INNER_LOGO_MAX = 12  # above this many groups in a training part, inner folds are 5 group folds
# one logistic-regression fit on ~500 x 1000 numbers, before anything was measured (s)
PRIOR_FIT_S = 0.3


# ---- the search space ---------------------------------------------------------------------

CLASSIFIERS = ("ridge", "logistic")


@dataclass(frozen=True)
class Candidate:
    """One point of the search space: a descriptor and a regularised linear classifier."""

    flow_method: str
    grid: tuple[int, int, int]
    parts: tuple[str, ...]
    bins: int
    classifier: str  # ridge (strength: alpha) | logistic (strength: C)
    strength: float

    @property
    def descriptor(self) -> tuple[str, tuple[int, int, int], tuple[str, ...], int]:
        return (self.flow_method, self.grid, self.parts, self.bins)

    @property
    def name(self) -> str:
        g = "x".join(map(str, self.grid))
        knob = "alpha" if self.classifier == "ridge" else "C"
        return (f"{self.flow_method} grid{g} {'+'.join(self.parts)} bins{self.bins} "
                f"{self.classifier} {knob}{self.strength:g}")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "flow_method": self.flow_method, "grid": list(self.grid),
                "parts": list(self.parts), "bins": self.bins, "classifier": self.classifier,
                "strength": self.strength}


@dataclass
class SearchSpace:
    """A parsed search-space file (see ``configs/search/fit_motionhist.yaml``)."""

    source: Path
    base: ExperimentConfig
    views: int
    inner_folds: str
    flow_methods: list[str]
    grids: list[tuple[int, int, int]]
    parts: list[tuple[str, ...]]
    bins: list[int]
    classifiers: list[tuple[str, float]]  # (classifier, strength), in priority order

    def candidates(self) -> list[Candidate]:
        """Every candidate, in priority order (the first values of each list first)."""
        return [Candidate(f, g, p, b, c, k) for f, g, p, b, (c, k) in itertools.product(
            self.flow_methods, self.grids, self.parts, self.bins, self.classifiers)]


def _as_list(doc: dict[str, Any], key: str, path: Path) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list) or not value:
        raise InputError(f"{path}: {key} must be a non-empty list, got {value!r}")
    return value


def load_search_space(path: str | Path | None = None) -> SearchSpace:
    """Read and check a search-space file; every problem is one line naming the file."""
    import yaml

    from actionlab.spec import check_flow_method
    from actionlab.models.descriptors import PARTS
    from actionlab.models.registry import list_models

    path = Path(path) if path else DEFAULT_SPACE
    if not path.is_file():
        raise InputError(f"{path}: no such search-space file")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: a search space is a mapping of {', '.join(SPACE_KEYS)}")
    unknown = sorted(set(doc) - set(SPACE_KEYS))
    if unknown:
        raise InputError(f"{path}: unknown key {unknown[0]!r}; a search space has "
                         f"{', '.join(SPACE_KEYS)}")
    model = doc.get("model", DESCRIPTOR_MODELS[0])
    if model not in list_models(video_only=False):
        raise InputError(f"{path}: unknown model {model!r} (actionlab models lists them)")
    if model not in DESCRIPTOR_MODELS:
        raise InputError(f"{path}: model {model!r}: fit searches descriptor models "
                         f"({', '.join(DESCRIPTOR_MODELS)}); train networks with crossval")
    base_ref = doc.get("base")
    if not isinstance(base_ref, str):
        raise InputError(f"{path}: base must name the experiment config every candidate starts "
                         "from")
    base_path = Path(base_ref) if Path(base_ref).is_absolute() else path.parent / base_ref
    if not base_path.is_file() and (CONFIG_DIR / base_ref).is_file():
        base_path = CONFIG_DIR / base_ref
    if not base_path.is_file():
        raise InputError(f"{path}: base {base_ref!r}: no such config")
    base = load_config(base_path)
    if base.model.name != model or base.data.kind != "tsn" or base.data.modality != "flow":
        raise InputError(f"{path}: base {base_ref!r} must be a {model} config on flow "
                         f"(data.kind tsn), got {base.model.name} on {base.data.modality}")
    methods = [str(m) for m in _as_list(doc, "flow_method", path)]
    for m in methods:
        try:
            check_flow_method(m)
        except InputError as exc:
            raise InputError(f"{path}: flow_method: {exc}") from None
    grids = []
    for g in _as_list(doc, "grid", path):
        if not (isinstance(g, list) and len(g) == 3 and all(isinstance(v, int) and v >= 1
                                                             for v in g)):
            raise InputError(f"{path}: grid {g!r}: each grid is [T, Y, X] of positive integers")
        grids.append(tuple(g))
    parts = []
    for p in _as_list(doc, "parts", path):
        p = [p] if isinstance(p, str) else p
        if not (isinstance(p, list) and p and set(p) <= set(PARTS)):
            raise InputError(f"{path}: parts {p!r}: each is a list of {', '.join(PARTS)}")
        parts.append(tuple(p))
    bins = _as_list(doc, "bins", path)
    if not all(isinstance(b, int) and b >= 2 for b in bins):
        raise InputError(f"{path}: bins {bins!r}: orientation bins are integers >= 2")
    classifiers: list[tuple[str, float]] = []
    for key, name in (("ridge_alpha", "ridge"), ("logistic_C", "logistic")):
        values = doc.get(key) or []
        if not (isinstance(values, list) and all(isinstance(v, (int, float)) and
                                                 not isinstance(v, bool) and v > 0
                                                 for v in values)):
            raise InputError(f"{path}: {key} {values!r}: a list of regularisation strengths > 0")
        classifiers += [(name, float(v)) for v in values]
    if not classifiers:
        raise InputError(f"{path}: no classifier: give ridge_alpha and/or logistic_C values")
    views = doc.get("views", 8)
    if not (isinstance(views, int) and views >= 1):
        raise InputError(f"{path}: views {views!r}: training samples per clip, >= 1")
    inner = str(doc.get("inner_folds", "logo"))
    if inner.lower() != "logo" and not (inner.isdigit() and int(inner) >= 2):
        raise InputError(f"{path}: inner_folds {inner!r}: logo or a number of folds >= 2")
    segments = base.data.segments * base.data.frames
    if any(g[0] > segments for g in grids):
        raise InputError(f"{path}: a grid has more time cells than the base's {segments} flow "
                         "frames")
    return SearchSpace(path, base, views, inner, methods, grids, parts, [int(b) for b in bins],
                       classifiers)


# ---- data and checks ----------------------------------------------------------------------

def load_data(data: str | Path, group_pattern: str | None) -> tuple[str, Manifest]:
    """The labelled, grouped videos: ``(dataset kind, manifest)`` with every record in train."""
    from actionlab.data.adapters import load_manifest
    from actionlab.data.groups import GNN_PATTERN, compile_pattern, group_of
    from actionlab.experiment.crossval import all_in_train

    path = Path(data)
    if not path.exists():
        raise InputError(f"{path}: no such folder or CSV manifest")
    dataset = "csv" if path.suffix.lower() == ".csv" else "folder"
    m = load_manifest(dataset, path)
    if not group_pattern and dataset == "folder":
        gnn = compile_pattern(GNN_PATTERN)
        if m.records and all(group_of(r.path, gnn) for r in m.records):
            group_pattern = GNN_PATTERN  # UCF101 / HMDB51 naming: the group is _gNN_
    if group_pattern:
        from actionlab.data.groups import apply_group_pattern

        m = apply_group_pattern(m, group_pattern)
    if not any(r.split != "unused" for r in m.records):
        raise DatasetError(f"{path}: no videos")
    return dataset, all_in_train(m, "pass --group-pattern REGEX (its first capture group "
                                    "names a file's group) or give the CSV a group column")


def check_groups(m: Manifest, where: str) -> None:
    """Nested group CV needs 3 groups and every class in 2 groups; say which is missing."""
    groups = sorted({r.group for r in m.records})
    if len(groups) < 3:
        raise DatasetError(f"{where}: {len(groups)} group(s) ({', '.join(groups)}): nested "
                           "cross-validation needs at least 3 (one to test, two to choose "
                           "with); check --group-pattern")
    for c, name in enumerate(m.classes):
        held = sorted({r.group for r in m.records if r.label == c})
        if len(held) < 2:
            first = next(r for r in m.records if r.label == c) if held else None
            at = m.abspath(first) if first else where
            raise DatasetError(f"{at}: class {name!r} is in {len(held)} group(s) "
                               f"({', '.join(held) or 'none'}): a fold holding it out would "
                               "have no training video of it; every class needs 2 groups")


def parse_budget(text: str | float | None) -> float | None:
    """Seconds of ``30m``, ``1h``, ``90s``, ``1800``; None or ``none`` for no budget."""
    if text is None or str(text).lower() in ("", "none", "0"):
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text).lower())
    if not m:
        raise InputError(f"--budget {text!r}: a duration such as 30m, 1h or 900s")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def estimate_prepare_seconds(m: Manifest, methods: Sequence[str], short_side: int,
                             workers: int) -> float:
    """Preparation time: decoding and flow of the first video, scaled by file size (a video's
    bytes follow its length for one camera and codec; no other file is opened)."""
    from actionlab.data import flow as flowlib
    from actionlab.data.video import read_video

    first = Path(m.abspath(m.records[0]))
    t = time.perf_counter()
    frames, _ = read_video(first, short_side=short_side, threads=1)
    for method in methods:
        flowlib.compute_flow(frames, method)
    took = time.perf_counter() - t
    sizes = [Path(m.abspath(r)).stat().st_size if Path(m.abspath(r)).is_file() else 0
             for r in m.records]
    return took * sum(sizes) / max(1, sizes[0]) / max(1, workers)


# ---- descriptors --------------------------------------------------------------------------

@dataclass
class Features:
    """Descriptors of every clip for one (flow, grid, parts, bins): ``train`` (N, V, D) are
    the training samples, ``test`` (N, D) the deterministic one."""

    train: np.ndarray
    test: np.ndarray


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def _descriptor_file(out: Path, key: tuple) -> Path:
    flow, grid, parts, bins = key
    return out / f"features-{_slug(flow)}-g{'x'.join(map(str, grid))}-{'+'.join(parts)}-b{bins}.npz"


def _descriptor_model(space: SearchSpace, key: tuple) -> Any:
    """A motion-histogram model without classifier whose head stops at the square roots:
    standardisation set to the identity, so its pre-logits are the raw descriptor."""
    from actionlab.models.registry import build_model

    _, grid, parts, bins = key
    kw = {**space.base.model.kwargs, "grid": list(grid), "parts": list(parts), "bins": bins}
    model = build_model(space.base.model.name, num_classes=0, **kw).eval()
    model.norm.running_mean.zero_()
    model.norm.running_var.fill_(1.0 - EPS)
    return model


def compute_features(space: SearchSpace, cache_dir: Path, keys: list[tuple], out: Path,
                     seed: int, progress: Callable[[str], None],
                     paths: Sequence[str] = ()) -> dict[tuple, Features]:
    """The descriptors of ``keys`` (all of one flow method) for every clip of the cache, read
    from ``out/features-*.npz`` when there, else computed in one pass over the clips."""
    todo = [k for k in keys if not _descriptor_file(out, k).is_file()]
    got: dict[tuple, Features] = {}
    if todo:
        import torch

        from actionlab.data import build_dataset
        from actionlab.data.cache import Cache
        from actionlab.train.run import data_spec

        data = replace(space.base.data, flow_method=todo[0][0], cache_dir=str(cache_dir))
        cache = Cache(cache_dir)
        spec = data_spec(data, cache, "data")
        train_ds = build_dataset(cache, spec, "train", train=True)
        test_ds = build_dataset(cache, spec, "train", train=False)
        if paths and [r.path for r in test_ds.records] != list(paths):
            raise DatasetError(f"{cache_dir}: the cache lists other videos, or another order, "
                               "than the data set; use a new --out")
        models = {k: _descriptor_model(space, k) for k in todo}
        tr = {k: [] for k in todo}
        te = {k: [] for k in todo}
        with torch.inference_mode():
            for i in range(len(test_ds)):
                torch.manual_seed(seed * 1_000_003 + i)  # the samples of clip i, whatever ran before
                views = [train_ds[i][0] for _ in range(space.views)] + [test_ds[i][0]]
                x = torch.stack([torch.as_tensor(v) for v in views]).float()
                for k, model in models.items():
                    d = model.forward_head(model.forward_features(x), pre_logits=True).numpy()
                    tr[k].append(d[:-1])
                    te[k].append(d[-1])
                if (i + 1) % 20 == 0 or i + 1 == len(test_ds):
                    progress(f"descriptors {todo[0][0]}: clip {i + 1}/{len(test_ds)}")
        for k in todo:
            got[k] = Features(np.stack(tr[k]).astype(np.float32),
                              np.stack(te[k]).astype(np.float32))
            with atomic_path(_descriptor_file(out, k)) as tmp:
                np.savez(tmp, train=got[k].train, test=got[k].test)
    for k in keys:
        if k not in got:  # computed by an earlier run
            with np.load(_descriptor_file(out, k)) as z:
                got[k] = Features(z["train"], z["test"])
    return got


# ---- the classifier -----------------------------------------------------------------------

@dataclass
class Fitted:
    """A fitted candidate: standardisation and the linear classifier over all classes; the
    scores are ``temperature * (z @ weight.T + bias)``."""

    mean: np.ndarray
    var: np.ndarray
    weight: np.ndarray  # (num_classes, D)
    bias: np.ndarray  # (num_classes,)
    temperature: float = 1.0

    def scores(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mean) / np.sqrt(self.var + EPS)
        return self.temperature * (z @ self.weight.T + self.bias)

    def proba(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.scores(x))


def fit_temperature(scores: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that makes softmax(T * scores) best calibrated (lowest log-loss) on
    out-of-fold scores: a ridge classifier's scores are about +-1, far from log-odds."""
    grid = np.geomspace(0.05, 200.0, 97)
    rows = np.arange(len(labels))
    losses = [-np.log(np.clip(softmax(t * scores)[rows, labels], 1e-12, None)).mean()
              for t in grid]
    return float(grid[int(np.argmin(losses))])


def fit_candidate(f: Features, labels: np.ndarray, idx: np.ndarray, classifier: str,
                  strength: float, num_classes: int) -> Fitted:
    """A regularised linear classifier on the standardised training samples of clips ``idx``:
    ``ridge`` (scikit-learn's RidgeClassifier, one-vs-all least squares on +-1 targets, alpha
    = ``strength``; closed form, 10-30x faster here than) ``logistic`` (multinomial logistic
    regression, C = ``strength``).

    A class absent from ``idx`` (an inner fold can lack one) gets a bias of -1e4: it is never
    predicted, as a model that never saw it would not predict it either.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression, RidgeClassifier

    x = f.train[idx].reshape(-1, f.train.shape[-1]).astype(np.float64)
    y = np.repeat(labels[idx], f.train.shape[1])
    mean, var = x.mean(0), x.var(0)
    z = (x - mean) / np.sqrt(var + EPS)
    weight = np.zeros((num_classes, x.shape[1]))
    bias = np.full(num_classes, -1e4)
    present = np.unique(y)
    if len(present) == 1:
        bias[present[0]] = 0.0
        return Fitted(mean, var, weight, bias)
    if classifier == "ridge":
        clf = RidgeClassifier(alpha=strength).fit(z, y)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = LogisticRegression(C=strength, max_iter=500, tol=1e-4).fit(z, y)
    coef, icpt = clf.coef_, np.atleast_1d(clf.intercept_)
    if len(present) == 2:  # one row for two classes: scores [-s, s] (ridge) / [0, s] (logistic)
        if classifier == "ridge":
            coef, icpt = np.vstack([-coef, coef]), np.array([-icpt[0], icpt[0]])
        else:
            coef, icpt = np.vstack([np.zeros_like(coef), coef]), np.array([0.0, icpt[0]])
    weight[clf.classes_], bias[clf.classes_] = coef, icpt
    return Fitted(mean, var, weight, bias)


# ---- nested selection ---------------------------------------------------------------------

def inner_folds_for(inner_folds: str, n_groups: int) -> str | int:
    """The inner folds of a training part with ``n_groups`` groups: leave one group out up to
    :data:`INNER_LOGO_MAX` groups, 5 group folds above; K is at most the groups there are."""
    if inner_folds.lower() == "logo":
        return "logo" if n_groups <= INNER_LOGO_MAX else min(5, n_groups)
    return min(int(inner_folds), n_groups)


@dataclass
class Selector:
    """Scores candidates by inner group folds; overridable hooks make it testable.

    ``seen`` records, for every classifier fit and every scoring, which clips it used: a test
    checks by construction that no outer test clip takes part in any choice.
    """

    features: dict[tuple, Features]
    labels: np.ndarray
    groups: np.ndarray
    num_classes: int
    inner_folds: str
    seed: int = 0
    seen: list[tuple[str, str, np.ndarray]] = field(default_factory=list)
    context: str = ""

    def fit(self, c: Candidate, idx: np.ndarray) -> Fitted:
        self.seen.append((self.context, "fit", np.asarray(idx)))
        return fit_candidate(self.features[c.descriptor], self.labels, idx, c.classifier,
                             c.strength, self.num_classes)

    def predict(self, c: Candidate, fitted: Fitted, idx: np.ndarray) -> np.ndarray:
        """Raw scores of clips ``idx``' test samples."""
        self.seen.append((self.context, "score", np.asarray(idx)))
        return fitted.scores(self.features[c.descriptor].test[idx])

    def inner_splits(self, idx: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        from actionlab.data.groups import group_folds

        folds = inner_folds_for(self.inner_folds, len(set(self.groups[idx])))
        return [(idx[a], idx[b]) for _, a, b in
                group_folds(self.labels[idx], self.groups[idx], folds, seed=self.seed)]

    def score(self, c: Candidate, splits: list[tuple[np.ndarray, np.ndarray]]
              ) -> dict[str, float]:
        """Pooled inner accuracy, log-loss (at the calibrated temperature: the tie-break) and
        that temperature, from a candidate's out-of-fold scores."""
        oof = np.concatenate([self.predict(c, self.fit(c, tr), te) for tr, te in splits])
        y = np.concatenate([self.labels[te] for _, te in splits])
        t = fit_temperature(oof, y)
        p = softmax(t * oof)
        loss = float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())
        return {"accuracy": float((oof.argmax(1) == y).mean()), "log_loss": loss,
                "temperature": t}

    def select(self, cands: list[Candidate], idx: np.ndarray,
               tick: Callable[[], None] = lambda: None) -> tuple[Candidate, list[dict[str, Any]]]:
        """The best candidate on inner folds of ``idx`` (accuracy, then log-loss, then order)."""
        splits = self.inner_splits(idx)
        table = []
        for c in cands:
            table.append({"candidate": c.name, **self.score(c, splits)})
            tick()
        best = min(range(len(cands)), key=lambda i: (-table[i]["accuracy"],
                                                      table[i]["log_loss"], i))
        return cands[best], table


# ---- budget -------------------------------------------------------------------------------

def trim_candidates(cands: list[Candidate], budget_left: float | None, fit_seconds: float,
                    fits_per_candidate: int) -> tuple[list[Candidate], list[Candidate]]:
    """Keep the first candidates whose search fits in ``budget_left`` seconds; the rest are
    trimmed. The outer evaluation is never trimmed: at least one candidate stays, and a budget
    too small even for it was refused before any work."""
    if budget_left is None:
        return cands, []
    per = max(fit_seconds, 1e-3) * fits_per_candidate
    keep = max(1, min(len(cands), int(budget_left // per)))
    return cands[:keep], cands[keep:]


# ---- the run ------------------------------------------------------------------------------

def _progress(enabled: bool) -> Any:
    if not enabled:
        return None
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn)

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), transient=False)


def run_fit(data: str | Path, out: str | Path, group_pattern: str | None = None,
            folds: str | int = "logo", search: str | Path | None = None,
            budget: str | float | None = "30m", workers: int | None = None,
            progress: bool | None = None, selector_hook: Callable[[Selector], None] | None = None,
            ) -> dict[str, Any]:
    """Nested group cross-validation and the final model; see the module docstring.

    Args:
        data: A folder (class folders of videos) or a CSV manifest (``path,label,group``).
        out: Output folder (resumed when it exists).
        group_pattern: Regex whose first capture group is a file's group.
        folds: Outer folds: ``logo`` (leave one group out) or K group folds.
        search: A search-space YAML; default ``configs/search/fit_motionhist.yaml``.
        budget: Wall-clock budget (``30m``); it trims the search, never the outer evaluation.
        workers: Processes preparing the caches (default: the thread budget).
        progress: A progress bar (default: when stderr is a terminal).
        selector_hook: Called with the :class:`Selector` before any selection (tests).

    Returns:
        The ``fit.json`` document.
    """
    from actionlab.data.groups import group_folds
    from actionlab.experiment.crossval import cache_short_side, prepare_shared
    from actionlab.runtime import thread_budget

    t0 = time.perf_counter()
    out = Path(out).resolve()
    space = load_search_space(search)
    seconds = parse_budget(budget)
    _, manifest = load_data(data, group_pattern)
    check_groups(manifest, str(data))
    labels = np.array([r.label for r in manifest.records])
    groups = np.array([r.group for r in manifest.records], dtype=object)
    outer = group_folds(labels, groups, folds, seed=space.base.train.seed)
    cands = space.candidates()
    workers = workers or thread_budget()
    short = cache_short_side(space.base)
    plan_file = out / "plan.json"
    plan = json.loads(plan_file.read_text()) if plan_file.is_file() else None
    if seconds is not None and plan is None:
        prep = estimate_prepare_seconds(manifest, space.flow_methods, short, workers)
        inner = inner_folds_for(space.inner_folds, len(set(groups)) - 1)
        n_inner = len(set(groups)) - 1 if inner == "logo" else int(inner)
        one = PRIOR_FIT_S * (len(outer) + 1) * (n_inner + 1)
        if prep + one > seconds:
            raise InputError(f"--budget {budget}: too small for even one candidate: preparing "
                             f"{len(manifest.records)} videos needs about {prep / 60:.1f} min and one "
                             f"candidate's nested search about {one / 60:.1f} min here")
    out.mkdir(parents=True, exist_ok=True)
    bar = _progress(sys.stderr.isatty() if progress is None else progress)

    def say(text: str) -> None:
        if bar is None:
            log.info("%s", text)

    # 1. caches and descriptors, once for every candidate and fold
    features: dict[tuple, Features] = {}
    prepared = None
    caches: dict[str, Path] = {}
    for method in space.flow_methods:
        data_cfg = replace(space.base.data, flow_method=method)
        cfg = replace(space.base, data=data_cfg)
        sub = out / f"prep-{_slug(method)}"
        sub.mkdir(exist_ok=True)
        say(f"preparing {len(manifest.records)} videos ({method})")
        prepared = prepare_shared(cfg, {}, manifest, sub, short, workers)
        if [r.path for r in prepared.records] != [r.path for r in manifest.records]:
            raise DatasetError(f"{sub / 'cache'}: the prepared cache lists other videos than "
                               f"{data}; use a new --out")
        caches[method] = sub / "cache"
        keys = sorted({c.descriptor for c in cands if c.flow_method == method})
        features |= compute_features(space, caches[method], keys, out, space.base.train.seed, say,
                                     [r.path for r in manifest.records])
    assert prepared is not None

    sel = Selector(features, labels, groups, len(manifest.classes), space.inner_folds,
                   space.base.train.seed)
    if selector_hook:
        selector_hook(sel)
    # 2. the budget: time one candidate's inner search, keep what fits (decided once, kept)
    if plan is None:
        splits = sel.inner_splits(outer[0][1])  # inside outer fold 0's training part
        sel.context = "timing"
        sel.fit(cands[0], splits[0][0])  # warm-up: the first fit imports scikit-learn
        probes = sorted({0, len(cands) // 2, len(cands) - 1})  # candidates differ in cost
        t = time.perf_counter()
        for k in probes:
            sel.score(cands[k], splits)
        per_fit = (time.perf_counter() - t) / (len(splits) * len(probes))
        left = None if seconds is None else seconds - (time.perf_counter() - t0)
        fits = (len(outer) + 1) * (len(splits) + 1)
        kept, trimmed = trim_candidates(cands, left, per_fit, fits)
        plan = {"candidates": [c.name for c in kept], "trimmed": [c.name for c in trimmed],
                "seconds_per_fit": round(per_fit, 4), "budget_s": seconds}
        write_json_atomic(plan_file, plan)
    by_name = {c.name: c for c in cands}
    unknown = [n for n in plan["candidates"] if n not in by_name]
    if unknown:
        raise InputError(f"{plan_file}: candidate {unknown[0]!r} is not in {space.source}; "
                         "use a new --out for a changed search space")
    kept = [by_name[n] for n in plan["candidates"]]
    if plan["trimmed"]:
        log.warning("fit: the budget keeps %d of %d candidates; trimmed: %s", len(kept),
                    len(cands), ", ".join(plan["trimmed"]))

    # 3. outer folds
    fold_dir = out / "folds"
    fold_dir.mkdir(exist_ok=True)
    results = []
    total = (len(outer) + 1) * len(kept)
    if bar is not None:
        bar.start()
        task = bar.add_task("folds", total=total)
        tick = lambda: bar.advance(task)
    else:
        tick = lambda: None
    try:
        for i, (name, tr, te) in enumerate(outer):
            done = fold_dir / f"fold-{i:02d}.json"
            if not done.is_file():
                ft = time.perf_counter()
                if bar is not None:
                    bar.update(task, description=f"fold {i + 1}/{len(outer)} (group {name})")
                sel.context = f"outer-{i}"
                best, table = sel.select(kept, tr, tick)
                sel.context = f"outer-{i}-refit"
                fitted = sel.fit(best, tr)
                sel.context = f"outer-{i}-test"
                pred = fitted.scores(features[best.descriptor].test[te]).argmax(1)
                top = next(r for r in table if r["candidate"] == best.name)
                res = {"fold": i, "group": name, "n": len(te),
                       "top1": float((pred == labels[te]).mean()),
                       "chosen": best.to_dict(), "inner": top, "table": table,
                       "predictions": [{"video": manifest.records[j].path,
                                        "label": int(labels[j]), "pred": int(k)}
                                       for j, k in zip(te, pred)],
                       "seconds": round(time.perf_counter() - ft, 2)}
                write_json_atomic(done, res)
                log.info("fit fold %d/%d (group %s): top-1 %.3f, chose %s (inner %.3f)", i + 1,
                         len(outer), name, res["top1"], best.name, top["accuracy"])
            elif bar is not None:
                bar.advance(task, len(kept))
            results.append(json.loads(done.read_text()))
        # 4. selection on all the data, the final model
        final_file = out / "final.json"
        if not final_file.is_file():
            if bar is not None:
                bar.update(task, description="final model: selection on all the data")
            sel.context = "final"
            everything = np.arange(len(labels))
            best, table = sel.select(kept, everything, tick)
            fitted = sel.fit(best, everything)
            # calibrated on the winner's out-of-fold scores (probabilities a user thresholds)
            fitted.temperature = next(t["temperature"] for t in table
                                      if t["candidate"] == best.name)
            run = write_model(space, best, fitted, caches[best.flow_method], prepared, out)
            write_json_atomic(final_file, {"chosen": best.to_dict(), "table": table,
                                           "run": str(run.relative_to(out))})
        elif bar is not None:
            bar.advance(task, len(kept))
    finally:
        if bar is not None:
            bar.stop()
    final = json.loads(final_file.read_text())
    doc = summarize(results, final, plan, manifest, space, str(data), folds,
                    time.perf_counter() - t0)
    write_json_atomic(out / "fit.json", doc)
    write_text_atomic(out / "fit.md", markdown(doc))
    return doc


def write_model(space: SearchSpace, c: Candidate, fitted: Fitted, cache: Path, prepared: Manifest,
                out: Path) -> Path:
    """The final run folder ``out/model``: the trainer writes a normal run (one epoch, so that
    run.json, config, spec and classes are what every run has), then its checkpoint's
    standardisation and classifier are set to the fitted ones."""
    import shutil

    import torch

    from actionlab.checkpoint import load_checkpoint, run_model_file, save_checkpoint
    from actionlab.experiment.crossval import fold_view
    from actionlab.models.registry import build_model
    from actionlab.train.run import train

    run = out / "model"
    if run.exists():
        shutil.rmtree(run)
    everything = np.arange(len(prepared.records))
    view = fold_view(cache, prepared, everything, np.array([], int), out / "model-cache")
    kw = {**space.base.model.kwargs, "grid": list(c.grid), "parts": list(c.parts), "bins": c.bins}
    base = space.base
    cfg = replace(base, name=f"fit-{base.name}",
                  data=replace(base.data, flow_method=c.flow_method, cache_dir=str(view),
                               val_fraction=0.0),
                  model=replace(base.model, kwargs=kw),
                  train=replace(base.train, epochs=1, out_dir=str(out), run_name="model",
                                progress=False))
    got = train(cfg)
    ckpt = run_model_file(got)
    assert ckpt is not None
    state, meta = load_checkpoint(ckpt)
    model = build_model(meta["model"]["name"], **meta["model"]["kwargs"])
    model.load_state_dict(state)
    with torch.no_grad():
        model.norm.running_mean.copy_(torch.from_numpy(fitted.mean).float())
        model.norm.running_var.copy_(torch.from_numpy(fitted.var).float())
        t = fitted.temperature  # folded into the classifier: softmax(t * (W z + b))
        model.fc.weight.copy_(torch.from_numpy(t * fitted.weight).float())
        model.fc.bias.copy_(torch.from_numpy(t * fitted.bias).float())
    meta = {**meta, "fit": {"candidate": c.to_dict(), "temperature": fitted.temperature,
                            "note": "standardisation and classifier fitted on every clip by "
                                    "actionlab fit (scikit-learn), not by the trainer"}}
    for name in ("last.safetensors", "best.safetensors"):
        if (got / name).is_file():
            save_checkpoint(got / name, model, meta)
    return got


def summarize(results: list[dict[str, Any]], final: dict[str, Any], plan: dict[str, Any],
              m: Manifest, space: SearchSpace, data: str, folds: str | int,
              seconds: float) -> dict[str, Any]:
    """The ``fit.json`` document."""
    from actionlab.machine import describe

    k = len(m.classes)
    conf = np.zeros((k, k), int)
    for r in results:
        for p in r["predictions"]:
            conf[p["label"], p["pred"]] += 1
    per_class = {name: (float(conf[c, c] / conf[c].sum()) if conf[c].sum() else None)
                 for c, name in enumerate(m.classes)}
    from actionlab.evaluate.folds import mean_std

    return {
        **mean_std([r["top1"] for r in results]), "n_folds": len(results), "n": int(conf.sum()),
        "top1_pooled": float(np.trace(conf) / max(1, conf.sum())),
        "data": data, "folds": str(folds), "classes": list(m.classes),
        "per_class": per_class, "confusion": conf.tolist(),
        "outer": [{"fold": r["fold"], "group": r["group"], "n": r["n"], "top1": r["top1"],
                   "chosen": r["chosen"]["name"], "inner_accuracy": r["inner"]["accuracy"],
                   "inner_log_loss": r["inner"]["log_loss"], "seconds": r["seconds"]}
                  for r in results],
        "final": {"chosen": final["chosen"], "run": final["run"],
                  "inner_accuracy": next(t["accuracy"] for t in final["table"]
                                         if t["candidate"] == final["chosen"]["name"])},
        "search_space": str(space.source), "candidates": plan["candidates"],
        "trimmed": plan["trimmed"], "budget_s": plan.get("budget_s"),
        "seconds": round(seconds, 1), "machine": describe(),
    }  # fmt: skip


def markdown(doc: dict[str, Any]) -> str:
    """``fit.md``: the figure, the folds and their choices, per-class accuracy, confusion."""
    lines = [f"# actionlab fit: {doc['data']}", "",
             f"Outer top-1 (nested, {doc['folds']} folds): **{doc['mean']:.3f} ± {doc['std']:.3f}** "
             f"over {doc['n_folds']} folds, {doc['n']} videos (pooled {doc['top1_pooled']:.3f}).",
             f"{len(doc['candidates'])} candidates from {doc['search_space']}"
             + (f"; {len(doc['trimmed'])} trimmed by the budget" if doc["trimmed"] else "") + ".",
             f"Final model: `{doc['final']['run']}` ({doc['final']['chosen']['name']}, inner "
             f"{doc['final']['inner_accuracy']:.3f}). {doc['seconds'] / 60:.1f} min; "
             f"{doc['machine']}.", "",
             "| fold | group | n | top-1 | chosen | inner top-1 |", "|---|---|---|---|---|---|"]
    for r in doc["outer"]:
        lines.append(f"| {r['fold']} | {r['group']} | {r['n']} | {r['top1']:.3f} | {r['chosen']} "
                     f"| {r['inner_accuracy']:.3f} |")
    lines += ["", "| class | accuracy |", "|---|---|"]
    lines += [f"| {c} | {'-' if a is None else f'{a:.2f}'} |" for c, a in doc["per_class"].items()]
    lines += ["", "Confusion (rows: truth, columns: prediction):", "",
              "| | " + " | ".join(doc["classes"]) + " |",
              "|---" * (len(doc["classes"]) + 1) + "|"]
    for name, row in zip(doc["classes"], doc["confusion"]):
        lines.append(f"| {name} | " + " | ".join(map(str, row)) + " |")
    return "\n".join(lines) + "\n"


__all__ = ["Candidate", "SearchSpace", "Selector", "load_search_space", "run_fit"]
