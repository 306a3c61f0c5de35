"""Explanations of one window of a video, as pictures: overlays, GIFs, flow in color, t-SNE.

:func:`explain_window` runs Grad-CAM, activation maps and guided backprop on the window the
model sees and pairs every map with the frames (or flow, in color) it belongs to, stream by
stream; :func:`save_explanation` writes them as PNG sheets and GIFs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from actionlab.errors import ActionlabError
from actionlab.explain.cam import (
    activation_maps,
    grad_cam,
    gradient_image,
    guided_backprop,
    overlay,
)
from actionlab.checkpoint import classes_of
from actionlab.data.inputs import RecordingSource, flow_tensor, make_input, rgb_tensor
from actionlab.data.transforms import default_transform
from actionlab.infer.preprocess import Decoded, as_spec, window_sources
from actionlab.infer.runner import softmax
from actionlab.spec import InputSpec
from actionlab.io import atomic_path

log = logging.getLogger(__name__)

DISPLAY_SIDE = 192  # pictures are scaled so their short side is at least this


@dataclass
class StreamExplanation:
    """One input stream: what it showed the model and where the model looked."""

    name: str  # "rgb", "flow", "rgbdiff"
    images: list[np.ndarray]  # (H, W, 3) uint8 per shown frame (flow in color)
    frames: list[int] = field(default_factory=list)  # the video frame of each image
    gradcam: list[np.ndarray] = field(default_factory=list)  # overlays, one per image
    activation: list[np.ndarray] = field(default_factory=list)
    guided: list[np.ndarray] = field(default_factory=list)
    # per shown frame, the numbers behind the pictures where they are curves (pose: Grad-CAM
    # and activation over time, each joint's guided-backprop importance)
    series: dict[str, list[Any]] = field(default_factory=dict)


@dataclass
class Explanation:
    """Explanations of one window, per stream, and the class explained."""

    label: str
    prob: float
    start: int
    streams: list[StreamExplanation]
    fps: float = 0.0  # of the video, to caption frames with their time


def _display_images(spec: InputSpec, src: RecordingSource,
                    read: tuple[str, np.ndarray]) -> list[np.ndarray]:
    """The frames (or flow, in color) one stream read, cropped as the model saw them."""
    from actionlab.data.flow import to_color

    what, idx = read
    kw = {k: v for k, v in spec.transform if k == "crop"}
    if what == "flow":
        geometry = default_transform("flow", False, spec.size, **kw)
        f = geometry(flow_tensor(src.src.flow(idx)), None).permute(0, 2, 3, 1).numpy()
        f = f * spec.flow_bound  # back to pixels
        mag = float(np.percentile(np.linalg.norm(f, axis=-1), 99)) or 1.0
        return list(to_color(f, mag))
    geometry = default_transform("rgbdiff", False, spec.size, **kw)  # geometry, no normalising
    x = geometry(rgb_tensor(src.src.rgb(idx)), None)  # (T, 3, H, W) in [0, 1]
    return list((x.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy())


def _per_image_maps(cam: np.ndarray, count: int, size_hw: tuple[int, int]) -> list[np.ndarray]:
    """One (H, W) map per shown image from a map of shape (H', W'), (T', H', W') or (S, H', W')."""
    from actionlab.explain.cam import upsample

    if cam.ndim == 2:
        return [upsample(cam, size_hw)] * count
    if cam.ndim == 3:
        frames = upsample(cam, size_hw, frames=count)  # (count, H, W)
        return list(frames)
    return [upsample(cam.reshape(-1, *cam.shape[-2:]).mean(0), size_hw)] * count


def grow_for_display(img: np.ndarray) -> np.ndarray:
    """``img`` scaled up (bilinear) so its shorter side is at least ``DISPLAY_SIDE``."""
    import cv2

    h, w = img.shape[:2]
    f = DISPLAY_SIDE / min(h, w)
    if f <= 1:
        return img
    return cv2.resize(img, (int(w * f), int(h * f)), interpolation=cv2.INTER_LINEAR)


def window_inputs(model: torch.nn.Module, meta: dict[str, Any], decoded: Decoded,
                  start: int | None = None,
                  ) -> tuple[InputSpec, int, RecordingSource, list[torch.Tensor]]:
    """The one window an explanation shows, as the model sees it.

    A segment (TSN-style) model sees the whole video; any other the window of its span that
    starts at ``start`` (default: centred).

    Returns:
        ``(spec, start, source, inputs)``: the input spec (one clip), the window's first frame,
        the window's source (its ``reads`` are what each stream read, window-relative), and the
        model's input tensors with a batch axis, on the model's device.
    """
    spec = replace(as_spec(meta), num_clips=1)
    n = len(decoded.frames)
    if spec.kind == "tsn":
        start, length = 0, n
    else:
        length = spec.window_span()
        start = max(0, (n - length) // 2) if start is None else start
    (window,) = window_sources(decoded, spec, [start], length)
    src = RecordingSource(window)
    x = make_input(spec, src, train=False)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    inputs = [p.unsqueeze(0).to(device) for p in (x if isinstance(x, tuple) else (x,))]
    return spec, int(start), src, inputs


def explain_window(
    model: torch.nn.Module,
    meta: dict[str, Any],
    decoded: Decoded,
    start: int | None = None,
    target: int | None = None,
) -> Explanation:
    """Grad-CAM, activation maps and guided backprop for one window of a decoded video.

    Args:
        model: The torch model (shared interface: ``forward_features``/``forward_head``).
        meta: Its checkpoint meta.
        decoded: The decoded video.
        start: First frame of the window; default the centred window.
        target: Class index to explain; default the predicted class.
    """
    spec, start, src, inputs = window_inputs(model, meta, decoded, start)
    subs = spec.streams()
    # TSN and LRCN features are segment- or time-major (B, S|T, C, H', W'): channels on axis 2.
    per_item = [s.kind == "tsn" for s in subs]
    axes = [2 if (t and a.dim() == 5) else 1 for t, a in zip(per_item, inputs, strict=True)]
    try:
        cams, logits = grad_cam(model, inputs, target, channel_axes=axes)
        acts = activation_maps(model, inputs, channel_axes=axes)
    except Exception as exc:  # noqa: BLE001 - a model without spatial features
        log.warning("Grad-CAM not available for this model (%s)", exc)
        cams, acts = [], []
        with torch.no_grad():
            logits = model(*inputs).float().cpu().numpy()
    probs = softmax(logits)[0]
    j = int(np.argmax(probs)) if target is None else int(target)
    guided = guided_backprop(model, inputs, j)
    classes = classes_of(meta)
    streams = []
    for i, sub in enumerate(subs):
        images = [grow_for_display(im) for im in _display_images(spec, src, src.reads[i])]
        hw = images[0].shape[:2]
        # The source's reads are window-relative frame indices.
        st = StreamExplanation(name=sub.modality, images=images,
                               frames=[int(start + k) for k in src.reads[i][1]])
        if i < len(cams) and cams[i].ndim >= 3 and not cams[i][0].any():
            log.warning("Grad-CAM: no positive evidence for %r in the %s stream (all-zero map; "
                        "common for weakly trained models)", classes[j], st.name)
        if i < len(cams) and cams[i].ndim >= 3:  # (B, H', W') at least
            st.gradcam = [overlay(im, m) for im, m in
                          zip(images, _per_image_maps(cams[i][0], len(images), hw), strict=True)]
            st.activation = [overlay(im, m) for im, m in
                             zip(images, _per_image_maps(acts[i][0], len(images), hw), strict=True)]
        st.guided = _guided_images(guided[i][0], sub, len(images), hw)
        streams.append(st)
    return Explanation(label=classes[j], prob=float(probs[j]), start=int(start), streams=streams,
                       fps=float(decoded.fps))


def _guided_images(g: np.ndarray, sub: InputSpec, count: int,
                   size_hw: tuple[int, int]) -> list[np.ndarray]:
    """Guided-backprop gradients of one sample as one image per shown frame."""
    import cv2

    kind = sub.kind
    if kind == "clip" and g.ndim == 4:  # (C, T, H, W)
        per = [g[:, t] for t in range(g.shape[1])]
    elif kind == "tsn":  # (S, C', H, W)
        per = list(g)
    else:  # (C', H, W)
        per = [g]
    imgs = [gradient_image(p) for p in per]
    if len(imgs) != count:
        imgs = [imgs[min(i * len(imgs) // count, len(imgs) - 1)] for i in range(count)]
    h, w = size_hw
    return [cv2.resize(im, (w, h), interpolation=cv2.INTER_NEAREST) for im in imgs]


def save_gif(images: list[np.ndarray], path: str | Path, fps: float = 4.0) -> Path:
    """An animated GIF with Pillow (installed with matplotlib), else imageio.

    Raises:
        ActionlabError: neither is installed.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        try:
            from PIL import Image
        except ImportError:
            try:
                import imageio.v2 as imageio
            except ImportError:
                raise ActionlabError(
                    f"{path}: writing a GIF needs Pillow or imageio (pip install pillow)"
                ) from None
            imageio.mimsave(tmp, images, format="GIF", duration=1 / fps, loop=0)
        else:
            # fast octree palettes: Pillow's default median cut took 10 ms a frame, 40x this
            frames = [Image.fromarray(im).quantize(256, method=Image.Quantize.FASTOCTREE)
                      for im in images]
            frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                           duration=int(1000 / fps), loop=0)
    return path


def save_image_png(image: np.ndarray, path: str | Path) -> Path:
    """Write an RGB uint8 image as PNG."""
    from PIL import Image

    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
    return path


def _sheet(rows: list[tuple[str, list[np.ndarray], list[str]]], max_cols: int = 8) -> np.ndarray:
    """Labelled rows of images tiled into one picture (at most ``max_cols`` per row).

    Args:
        rows: ``(row title, images, one caption per image)``; the title goes on a white strip
            above the row (what is shown: stream and method, and the class explained), each
            caption on its image (which frame, at what time).
    """
    from actionlab.infer.outputs import draw_caption

    h, w = rows[0][1][0].shape[:2]
    width = min(max(len(r[1]) for r in rows), max_cols)
    out_rows = []
    for title, images, captions in rows:
        cols = min(len(images), max_cols)
        pick = [i * len(images) // cols for i in range(cols)]  # evenly spread, no repeats
        cells = [images[k] if images[k].shape[:2] == (h, w) else _resize(images[k], h, w)
                 for k in pick]
        cells = [draw_caption(im, captions[k]) if k < len(captions) else im
                 for im, k in zip(cells, pick, strict=True)]
        cells += [np.zeros_like(cells[0])] * (width - len(cells))
        out_rows += [_title_strip(title, w * width), np.concatenate(cells, axis=1)]
    return np.concatenate(out_rows, axis=0)


def _title_strip(text: str, width: int, height: int = 22) -> np.ndarray:
    """A white band with ``text`` in black, left-aligned (cut to the band's width)."""
    import cv2

    strip = np.full((height, width, 3), 255, np.uint8)
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.5
    while len(text) > 4 and cv2.getTextSize(text, font, scale, 1)[0][0] > width - 8:
        text = text[:-4] + "..."
    cv2.putText(strip, text, (4, height - 7), font, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return strip


def _captions(exp: Explanation, stream: StreamExplanation) -> list[str]:
    """``frame 12, 0.48 s`` for each image of a stream (frame only when the fps is unknown)."""
    return [f"frame {f}, {f / exp.fps:.2f} s" if exp.fps > 0 else f"frame {f}"
            for f in stream.frames]


def _resize(im: np.ndarray, h: int, w: int) -> np.ndarray:
    import cv2

    return cv2.resize(im, (w, h), interpolation=cv2.INTER_LINEAR)


def gradcam_gif_frames(exp: Explanation) -> list[np.ndarray]:
    """Frames of the Grad-CAM GIF: every stream's overlay side by side, frame by frame."""
    streams = [s for s in exp.streams if s.gradcam] or exp.streams
    count = max(len(s.gradcam or s.images) for s in streams)
    h, w = streams[0].images[0].shape[:2]
    out = []
    for t in range(count):
        parts = []
        for s in streams:
            seq = s.gradcam or s.images
            parts.append(_resize(seq[min(t * len(seq) // count, len(seq) - 1)], h, w))
        out.append(np.concatenate(parts, axis=1))
    return out


def save_explanation(exp: Explanation, out_dir: str | Path) -> dict[str, Path]:
    """Write ``gradcam.gif``, ``gradcam.png``, ``activation.png``, ``guided.png`` (+ ``flow.png``).

    PNG sheets have one row of inputs and one row of maps per stream, each row titled with the
    stream and the method (and the class explained), each image captioned with its frame and
    time in the video.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"gradcam_gif": save_gif(gradcam_gif_frames(exp), out_dir / "gradcam.gif")}
    target = f"'{exp.label}' (p={exp.prob:.2f})"
    for key in ("gradcam", "activation", "guided"):
        rows = []
        for s in exp.streams:
            maps = getattr(s, key)
            if maps:
                caps = _captions(exp, s)
                rows += [(f"{s.name}: input", s.images, caps),
                         (f"{s.name}: {_METHODS[key]}" + (f" for {target}" if key != "activation"
                                                          else ""), maps, caps)]
        if rows:
            paths[key] = save_image_png(_sheet(rows), out_dir / f"{key}.png")
    flows = [s for s in exp.streams if s.name == "flow"]
    if flows:
        paths["flow"] = save_image_png(_sheet([("flow (color: direction, brightness: speed)",
                                          flows[0].images, _captions(exp, flows[0]))]),
                                 out_dir / "flow.png")
    return paths


_METHODS = {"gradcam": "Grad-CAM", "activation": "mean activation",
            "guided": "guided backprop"}


def penultimate_features(
    model: torch.nn.Module, inputs: tuple[np.ndarray, ...], with_logits: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """(B, D) features before the classifier: ``forward_head(..., pre_logits=True)``.

    With ``with_logits``, also the (B, K) logits from the same features.
    """
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    with torch.no_grad():
        feats = model.forward_features(*(torch.from_numpy(x).to(device) for x in inputs))
        pre = model.forward_head(feats, pre_logits=True).flatten(1).float().cpu().numpy()
        if not with_logits:
            return pre
        return pre, model.forward_head(feats).float().cpu().numpy()


def plot_tsne(
    features: np.ndarray,
    labels: list[str],
    path: str | Path,
    title: str = "t-SNE of penultimate features",
    seed: int = 0,
) -> Path | None:
    """2-D t-SNE of ``features`` coloured by ``labels`` (scikit-learn, matplotlib).

    Returns:
        The PNG written, or ``None`` with fewer than 5 points (t-SNE needs a few).
    """
    if len(features) < 5:
        log.warning("t-SNE skipped: %d samples (needs at least 5)", len(features))
        return None
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from sklearn.manifold import TSNE

    perplexity = float(min(30, max(2, (len(features) - 1) // 3)))
    emb = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        np.asarray(features, np.float64)
    )
    # A bare Figure on the Agg canvas: no pyplot, so no global figure list or backend switch.
    fig = Figure(figsize=(5.5, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    names = sorted(set(labels))
    cmap = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    for k, name in enumerate(names):
        sel = np.array([lab == name for lab in labels])
        ax.scatter(emb[sel, 0], emb[sel, 1], s=14, color=cmap(k % cmap.N), label=name)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, frameon=False, loc="best")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    return path
