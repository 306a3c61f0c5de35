"""Props drawn with the figure: behind it (ladder, bike, horse) or in its hands."""

from __future__ import annotations

import math

import numpy as np

from actionlab.synth.figure import Canvas, project

BACK = {"ladder", "bike", "horse"}


def _proj(pts: dict[str, tuple[float, float]], yaw: float, lift: float) -> dict[str, np.ndarray]:
    return project({k: np.array([x, y + lift, 0.0]) for k, (x, y) in pts.items()}, yaw)


def draw_back(cv: Canvas, prop: dict, i: int, yaw: float, lift: float) -> None:
    """Props behind the figure, in the figure's sagittal plane (they turn with it)."""
    kind = prop["kind"]
    if kind == "ladder":
        _ladder(cv, prop, i, lift)
    elif kind == "bike":
        _bike(cv, prop, i, yaw, lift)
    elif kind == "horse":
        _horse(cv, prop, i, yaw, lift)


def _ladder(cv: Canvas, prop: dict, i: int, lift: float) -> None:
    col, rung = prop["colour"], prop["rung"]
    base = -lift - prop["t_rise"][i]  # ground, relative to the hip; the ladder stays put
    for x in (-0.12, 0.12):
        cv.line(np.array([x, base - 0.3]), np.array([x, base + 1.9]), col, 0.025)
    y = base + 0.1
    while y < base + 1.9:
        cv.line(np.array([-0.12, y]), np.array([0.12, y]), col, 0.018)
        y += rung


def _bike(cv: Canvas, prop: dict, i: int, yaw: float, lift: float) -> None:
    col, w = prop["colour"], prop["wheel"]
    cx, cy, cr = prop["crank"]
    phi = prop["t_phi"][i]
    wy = -lift + w  # wheel centers: on the ground
    pts = {"rw": (cx - 0.42, wy), "fw": (cx + 0.5, wy), "cr": (cx, cy), "seat": (-0.02, -0.05),
           "bar": (cx + 0.42, cy + 0.5), "head": (cx + 0.45, cy + 0.38)}
    for k in range(2):
        a = phi + k * math.pi
        pts[f"p{k}"] = (cx + cr * math.cos(a), cy + cr * math.sin(a))
    q = _proj(pts, yaw, lift)
    sx = abs(math.sin(math.radians(yaw)))
    for wname in ("rw", "fw"):
        c = q[wname]
        _ellipse(cv, c, w * max(sx, 0.15), w, (30, 30, 30), 0.025)
        for k in range(3):  # spokes turn with the crank
            a = phi * 1.7 + k * math.pi / 3
            d = np.array([math.cos(a) * w * sx, math.sin(a) * w, 0.0])
            cv.line(c - d, c + d, (150, 150, 150), 0.006)
    for a, b in (("rw", "cr"), ("cr", "seat"), ("seat", "rw"), ("cr", "head"), ("seat", "head"),
                 ("head", "fw"), ("head", "bar")):
        cv.line(q[a], q[b], col, 0.02)
    cv.line(q["seat"] + np.array([-0.05, 0.01, 0]), q["seat"] + np.array([0.05, 0.01, 0]),
            (20, 20, 20), 0.025)
    cv.line(q["p0"], q["p1"], (60, 60, 60), 0.012)


def _ellipse(cv: Canvas, c, ax: float, ay: float, col, width: float) -> None:
    import cv2

    k = 1 << cv.SHIFT
    center = cv.pt(c)
    axes = (max(1, int(ax * cv.scale * k)), max(1, int(ay * cv.scale * k)))
    cv2.ellipse(cv.img, center, axes, 0, 0, 360, col, max(1, int(width * cv.scale)),
                cv2.LINE_AA, cv.SHIFT)


def _horse(cv: Canvas, prop: dict, i: int, yaw: float, lift: float) -> None:
    col = prop["colour"]
    dark = tuple(int(v * 0.7) for v in col)
    phi = prop["t_phi"][i]
    g = -lift  # ground
    body_y = -0.17
    pts = {"rump": (-0.3, body_y), "chest": (0.28, body_y), "wither": (0.22, body_y + 0.06),
           "poll": (0.5, body_y + 0.36), "muzzle": (0.66, body_y + 0.2),
           "tail": (-0.46, body_y - 0.2)}
    legs = []
    for k, (hx, off) in enumerate(((-0.26, 0.0), (-0.2, 0.6), (0.22, 2.0), (0.28, 2.6))):
        a = phi + off
        knee = (hx + 0.08 * math.sin(a), body_y - 0.3 + 0.04 * max(0.0, math.cos(a)))
        hoof = (hx + 0.16 * math.sin(a), g + 0.02 + 0.08 * max(0.0, math.cos(a)))
        pts[f"h{k}"], pts[f"k{k}"], pts[f"f{k}"] = (hx, body_y - 0.05), knee, hoof
        legs.append(k)
    q = _proj(pts, yaw, lift)
    sx = abs(math.sin(math.radians(yaw)))
    for k in legs:
        shade = dark if k % 2 else col
        cv.line(q[f"h{k}"], q[f"k{k}"], shade, 0.065)
        cv.line(q[f"k{k}"], q[f"f{k}"], shade, 0.042)
    cv.line(q["rump"], q["tail"], dark, 0.035)
    mid = (q["rump"] + q["chest"]) / 2
    _ellipse_fill(cv, mid, 0.38 * max(sx, 0.3), 0.15, col)
    cv.line(q["wither"], q["poll"], col, 0.13)
    cv.line(q["poll"], q["muzzle"], col, 0.07)
    cv.line(q["wither"] + np.array([0, 0.04, 0]), q["poll"] + np.array([0, 0.03, 0]), dark, 0.02)


def _ellipse_fill(cv: Canvas, c, ax: float, ay: float, col) -> None:
    import cv2

    k = 1 << cv.SHIFT
    axes = (max(1, int(ax * cv.scale * k)), max(1, int(ay * cv.scale * k)))
    cv2.ellipse(cv.img, cv.pt(c), axes, 0, 0, 360, col, -1, cv2.LINE_AA, cv.SHIFT)


def _forearm_angle(pj: dict, side: str) -> float:
    d = pj[f"wr_{side}"] - pj[f"el_{side}"]
    return math.atan2(d[1], d[0])


def draw_front(cv: Canvas, prop: dict, i: int, pj: dict[str, np.ndarray]) -> None:
    """Props held in the hands (drawn over the figure)."""
    kind = prop["kind"]
    if kind == "held":
        s = prop["side"]
        a = _forearm_angle(pj, s) + math.pi / 2 + math.radians(prop["angle"])
        d = np.array([math.cos(a), math.sin(a), 0.0]) * prop["len"] / 2
        c = pj[f"wr_{s}"]
        cv.line(c - d * 0.4, c + d * 1.6, prop["colour"], prop["width"])
    elif kind == "ball":
        s = prop["side"]
        cv.circle(pj[f"wr_{s}"] + np.array([0, 0.01, 0]), prop["r"], prop["colour"])
    elif kind == "jug":
        _jug(cv, prop, i, pj)
    elif kind in ("gun", "bow"):
        _weapon(cv, prop, i, pj)


def _jug(cv: Canvas, prop: dict, i: int, pj: dict) -> None:
    s, size = prop["side"], prop["size"]
    tilt = math.radians(prop["t_tilt"][i])
    c = pj[f"wr_{s}"]
    fwd = 1.0 if pj[f"wr_{s}"][0] >= pj["neck"][0] else -1.0
    # jug body: a rectangle hanging from the hand, rotated forward by tilt
    ang = -tilt * fwd
    ca, sa = math.cos(ang), math.sin(ang)
    rot = lambda x, y: c + np.array([x * ca - y * sa, x * sa + y * ca, 0.0])  # noqa: E731
    w, h = size * 0.6 * fwd, size
    cv.poly([rot(-w * 0.2, 0.01), rot(w, 0.01), rot(w * 0.9, -h), rot(-w * 0.2, -h)],
            prop["colour"])
    spout = rot(w * 1.25, 0.0)
    cv.line(rot(w, -0.01), spout, prop["colour"], 0.012)
    cup = c + np.array([fwd * (size * 1.3), -size * 2.2, 0.0])
    cv.poly([cup + np.array([-0.025, 0.03, 0]), cup + np.array([0.025, 0.03, 0]),
             cup + np.array([0.02, -0.03, 0]), cup + np.array([-0.02, -0.03, 0])], (220, 220, 230))
    if prop["t_tilt"][i] > 40:
        cv.line(spout, cup + np.array([0, 0.02, 0]), prop["liquid"], 0.012)


def _weapon(cv: Canvas, prop: dict, i: int, pj: dict) -> None:
    f, b = prop["front"], prop["back"]
    hand = pj[f"wr_{f}"]
    if prop["t_amp"][i] < 0.3:
        return
    d = pj[f"wr_{f}"] - pj[f"el_{f}"]
    d = d / (np.linalg.norm(d[:2]) + 1e-6)
    if prop["kind"] == "gun":
        cv.line(hand - d * 0.01, hand + d * 0.12, (25, 25, 25), 0.025)
        cv.line(hand, hand + np.array([0, -0.04, 0]), (25, 25, 25), 0.02)
        if prop["t_flash"][i]:
            cv.circle(hand + d * 0.15, 0.03, (255, 230, 90))
        return
    perp = np.array([-d[1], d[0], 0.0])
    top, bot = hand + perp * 0.2, hand - perp * 0.2
    mid = hand + d * 0.06
    cv.line(top, mid, (120, 70, 30), 0.015)
    cv.line(mid, bot, (120, 70, 30), 0.015)
    nock = pj[f"wr_{b}"]
    cv.line(top, nock, (230, 230, 230), 0.005)
    cv.line(bot, nock, (230, 230, 230), 0.005)
    cv.line(nock, hand + d * 0.1, (90, 60, 40), 0.008)
