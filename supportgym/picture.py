"""The ``rgb_array`` view: a picture of the incident as the on-call engineer sees it.

Everything drawn comes from the observation (alerts, evidence, remedies done, tier, severity,
ticket, validation), the service map (names, kinds, calls) and the actions taken: never the
hidden fault. Drawn with pillow, imported on first use, so the environment itself does not
need it; a frame takes about 10 ms (``python -m supportgym.picture`` times it and redraws
``docs/render.png``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from supportgym.contract.observation import (
    ALERTS,
    DONE_BLOCK,
    G_DECLARED,
    G_TICKET,
    G_TIER,
    G_VALIDATION,
    GF,
    KIND,
    LOGS,
    M_ERROR_RATE,
    M_LATENCY,
    M_UTILISATION,
    METRIC,
    SF,
    decode_latency,
    decode_recency,
    decode_utilisation,
)
from supportgym.contract.vocabulary import ALERT_KINDS, DONE, LogClass, ServiceKind, Ticket
from supportgym.render import VALIDATION_WORDS

#: Frame size (width, height): 16:9, both multiples of 16 so video encoders need not resize.
FRAME_SIZE = (1024, 576)
INSTALL_HINT = 'rgb_array rendering needs pillow: pip install "supportgym[eval]"'

_BACKGROUND, _INK, _FAINT = (250, 250, 247), (30, 30, 30), (130, 130, 130)
#: Node fill by the most serious alert observed on it (ALERT_KINDS order), or none.
_ALERT_FILL = {"down": (150, 30, 40), "errors": (225, 80, 70), "latency": (240, 160, 60),
               "saturation": (240, 215, 90)}
_QUIET_FILL = (200, 228, 200)
_SEVERITY_ORDER = ("down", "errors", "latency", "saturation")
_TIMELINE_ACTIONS = 8


def _pil() -> tuple[Any, Any, Any]:
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return Image, ImageDraw, ImageFont


@lru_cache(maxsize=4)
def _font(size: int) -> Any:
    return _pil()[2].load_default(size=size)


@lru_cache(maxsize=4096)
def _glyphs(text: str, size: int) -> Any:
    """``text`` rasterised once as an 8-bit mask: most labels repeat from frame to frame, and
    rasterising is most of a frame's cost (about 0.5 ms a label)."""
    Image, ImageDraw, _ = _pil()
    font = _font(size)
    left, top, right, bottom = font.getbbox(text)
    mask = Image.new("L", (max(1, right), max(1, bottom)))
    ImageDraw.Draw(mask).text((0, 0), text, fill=255, font=font)
    return mask


@lru_cache(maxsize=4096)
def _length(text: str, size: int) -> float:
    return float(_font(size).getlength(text))


def _text(img: Any, xy: tuple[float, float], text: str, fill: tuple[int, int, int], size: int,
          right: bool = False) -> None:
    """Draw ``text`` with its top-left (or top-right, ``right``) corner at ``xy``."""
    mask = _glyphs(text, size)
    x = xy[0] - mask.width if right else xy[0]
    img.paste(fill, (round(x), round(xy[1])), mask)


def call_depth(calls: np.ndarray) -> np.ndarray:
    """Longest call chain from an entry point to each service, so every call points rightwards."""
    n = len(calls)
    depth = np.zeros(n, dtype=int)
    for _ in range(n):  # relax n times: enough for any DAG of n services
        for i, j in zip(*np.nonzero(calls)):
            depth[j] = max(depth[j], depth[i] + 1)
    return depth


def _evidence(o: np.ndarray) -> list[str]:
    """One short line per channel the agent has read on this service (as in the text view)."""
    lines = []
    if o[SF["metrics_fresh"]] > 0:
        m = o[METRIC]
        lines.append(f"err {m[M_ERROR_RATE]:.0%} lat x{decode_latency(m[M_LATENCY]):.1f} "
                     f"cpu {decode_utilisation(m[M_UTILISATION]):.0%}")
    if o[SF["logs_fresh"]] > 0:
        lines.append("logs: " + LogClass(int(np.argmax(o[LOGS]))).name.lower().replace("_", " "))
    if o[SF["traces_fresh"]] > 0:
        lines.append("trace: starts here" if o[SF["trace_origin_here"]] else "trace: downstream")
    if o[SF["changes_fresh"]] > 0:
        lines.append(f"deploy {_ago(o[SF['deploy_recent']])}, config {_ago(o[SF['config_recent']])}")
    done = [name.replace("_", " ") for name, v in zip(DONE, o[DONE_BLOCK]) if v > 0]
    if done:
        lines.append("done: " + ", ".join(done))
    return lines


def _ago(recent: float) -> str:
    if recent <= 1e-6:
        return "long ago"
    minutes = float(decode_recency(recent))
    return f"{minutes:.0f}m ago" if minutes < 120 else f"{minutes / 60:.0f}h ago"


def render_rgb(svc: np.ndarray | None, glob: np.ndarray | None, minutes: float, names: Sequence[str],
               calls: np.ndarray, timeline: Sequence[tuple[float, str, str]],
               size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """A ``(height, width, 3) uint8`` frame. ``svc`` / ``glob``: one episode's per-service and
    global observation rows (None before reset); ``names`` and ``calls``: the service map."""
    Image, ImageDraw, _ = _pil()
    width, height = size
    img = Image.new("RGB", size, _BACKGROUND)
    draw = ImageDraw.Draw(img)
    if svc is None or glob is None:
        _text(img, (20, 20), "no episode: call reset()", _INK, 18)
        return np.asarray(img)

    # Header: what the desk shows.
    declared = int(np.argmax(glob[G_DECLARED]))
    header = (f"t+{minutes:.0f} min   tier L{int(np.argmax(glob[G_TIER])) + 1}   "
              f"{'SEV' + str(declared) if declared else 'severity undeclared'}   "
              f"ticket: {Ticket(int(np.argmax(glob[G_TICKET]))).name.lower().replace('_', ' ')}   "
              f"validation: {VALIDATION_WORDS[int(np.argmax(glob[G_VALIDATION]))]}")
    _text(img, (16, 10), header, _INK, 18)
    x = width - 16  # legend of node colours, right-aligned
    for label, colour in [("no alert", _QUIET_FILL), *((k, _ALERT_FILL[k]) for k in reversed(_SEVERITY_ORDER))][::-1]:
        x -= _length(label, 12) + 4
        _text(img, (x, 36), label, _FAINT, 12)
        x -= 16
        draw.rectangle([x, 36, x + 11, 47], fill=colour)
        x -= 10
    if glob[GF["last_action_invalid"]] > 0:
        _text(img, (16, 36), "last action was masked (a no-op)", (180, 40, 40), 12)

    # The service graph: columns by call depth, one box per service.
    strip_h = 84
    top, bottom = 56, height - strip_h - 8
    depth = call_depth(np.asarray(calls))
    n_cols = int(depth.max()) + 1
    col_w = (width - 32) / n_cols
    box_w = min(230.0, col_w - 18)
    rows = max(int(np.sum(depth == d)) for d in range(n_cols))
    row_h = (bottom - top) / rows
    box_h = min(150.0, row_h - 10)
    boxes: dict[int, tuple[float, float]] = {}
    for d in range(n_cols):
        members = np.flatnonzero(depth == d)
        offset = top + (bottom - top - row_h * len(members)) / 2
        for r, i in enumerate(members):
            boxes[int(i)] = (16 + d * col_w + (col_w - box_w) / 2, offset + r * row_h + (row_h - box_h) / 2)
    for i, j in zip(*np.nonzero(calls)):
        (x0, y0), (x1, y1) = boxes[int(i)], boxes[int(j)]
        start, end = (x0 + box_w, y0 + box_h / 2), (x1, y1 + box_h / 2)
        draw.line([start, end], fill=(160, 160, 160), width=2)
        draw.ellipse([end[0] - 4, end[1] - 4, end[0] + 4, end[1] + 4], fill=(120, 120, 120))
    for i, name in enumerate(names):
        o, (x, y) = svc[i], boxes[i]
        firing = [kind for kind, on in zip(ALERT_KINDS, o[ALERTS]) if on > 0]
        worst = next((k for k in _SEVERITY_ORDER if k in firing), None)
        fill = _ALERT_FILL[worst] if worst else _QUIET_FILL
        ink = (255, 255, 255) if worst in ("down", "errors") else _INK
        outline = (60, 60, 200) if o[SF["internal_report"]] or o[SF["trace_points_here"]] else (90, 90, 90)
        draw.rounded_rectangle([x, y, x + box_w, y + box_h], radius=8, fill=fill, outline=outline,
                               width=3 if outline[2] == 200 else 1)
        kind = ServiceKind(int(np.argmax(o[KIND]))).name
        _text(img, (x + 8, y + 5), _fit(name, box_w - 14, 15), ink, 15)
        lines = [kind.lower() + " · " + (("alerts: " + ", ".join(firing)) if firing else "no alerts")]
        if o[SF["internal_report"]]:
            lines.append("reported by another team")
        if o[SF["trace_points_here"]]:
            lines.append("a trace points here")
        lines += _evidence(o)
        wrapped = [part for line in lines for part in _wrap(line, box_w - 14, 12)]
        room = max(0, int((box_h - 28) // 13))
        if len(wrapped) > room > 0:  # say that something did not fit
            wrapped = [*wrapped[:room - 1], "…"]
        for k, line in enumerate(wrapped[:room]):
            _text(img, (x + 8, y + 25 + 13 * k), line, ink, 12)

    # Timeline strip: the last actions, oldest on the left.
    y0 = height - strip_h
    draw.line([(16, y0), (width - 16, y0)], fill=_FAINT, width=1)
    _text(img, (16, y0 + 6), "timeline", _FAINT, 14)
    recent = list(timeline)[-_TIMELINE_ACTIONS:]
    cell = (width - 32) / _TIMELINE_ACTIONS
    for k, (t, what, note) in enumerate(recent):
        x = 16 + k * cell
        colour = (180, 40, 40) if note else _INK
        draw.rounded_rectangle([x + 2, y0 + 26, x + cell - 4, y0 + strip_h - 4], radius=6,
                               fill=(236, 236, 232), outline=(200, 200, 200))
        _text(img, (x + 8, y0 + 31), f"t+{t:.0f}", _FAINT, 12)
        for m, part in enumerate(_wrap(what + (f" ({note})" if note else ""), cell - 16, 12)[:2]):
            _text(img, (x + 8, y0 + 46 + 13 * m), part, colour, 12)
    return np.asarray(img)


def _fit(text: str, width: float, size: int) -> str:
    """``text`` cut (with an ellipsis) to ``width`` pixels."""
    if _length(text, size) <= width:
        return text
    while text and _length(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


@lru_cache(maxsize=4096)
def _wrap(text: str, width: float, size: int) -> tuple[str, ...]:
    """``text`` in lines of at most ``width`` pixels, broken between words."""
    lines: list[str] = []
    for word in text.split():
        if lines and _length(lines[-1] + " " + word, size) <= width:
            lines[-1] += " " + word
        else:
            lines.append(_fit(word, width, size))
    return tuple(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m supportgym.picture [--out PATH]``: draw the README's picture (the standard
    suite at L2 after six checks; saved if ``--out``) and time frames over a hard-suite rollout."""
    import argparse
    import time

    import gymnasium as gym

    from supportgym.contract.vocabulary import ActionKind

    parser = argparse.ArgumentParser(prog="python -m supportgym.picture", description=main.__doc__)
    parser.add_argument("--out", default=None, help="where to save the picture (PNG)")
    parser.add_argument("--frames", type=int, default=40, help="frames to time (default: %(default)s)")
    args = parser.parse_args(argv)
    env = gym.make("supportgym/Incident-Standard-v1", render_mode="rgb_array", start_tier=2)
    env.reset(seed=1)
    u = env.unwrapped
    for kind, service in [(ActionKind.CHECK_METRICS, "edge"), (ActionKind.CHECK_TRACES, "edge"),
                          (ActionKind.CHECK_LOGS, "gateway"), (ActionKind.CHECK_METRICS, "gateway"),
                          (ActionKind.CHECK_CHANGES, "gateway"), (ActionKind.CHECK_METRICS, "orders-db")]:
        env.step(u.table.index(kind, u.scenario.topology.index(service)))
    if args.out:
        _pil()[0].fromarray(env.render()).save(args.out)
        print(f"saved {args.out}")
    env = gym.make("supportgym/Incident-Hard-v1", render_mode="rgb_array")
    _, info = env.reset(seed=0)
    rng = np.random.default_rng(0)
    times = []
    for _ in range(args.frames):
        start = time.perf_counter()
        env.render()
        times.append((time.perf_counter() - start) * 1000)
        _, _, terminated, truncated, info = env.step(int(rng.choice(np.flatnonzero(info["action_mask"]))))
        if terminated or truncated:
            _, info = env.reset()
    print(f"{len(times)} frames of {FRAME_SIZE[0]}x{FRAME_SIZE[1]}: first {times[0]:.0f} ms, "
          f"median {np.median(times):.1f} ms, max after the first {max(times[1:], default=0):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
