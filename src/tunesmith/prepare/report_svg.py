"""The two plot shapes report.html needs, written as inline SVG by hand.

matplotlib took 2-8 s per run (its import alone ~1.5 s, then four figures) to draw four bar charts;
this takes well under a millisecond and the page stays one self-contained file. Text stays text
(searchable, readable at any zoom).
"""

from __future__ import annotations

import math
import unicodedata
from html import escape

_FONT = "font-family='system-ui,sans-serif' font-size='11'"
_CHAR_W = 6.2   # width of a Latin character at font-size 11, for laying out labels (a generous average)
_WIDE_W = 11.0  # a CJK or other full-width character takes the whole em
_DIAG = math.sqrt(0.5)  # a label turned 45 degrees spans this share of its length across and down


def text_width(text: str) -> float:
    """The width `text` takes at font-size 11: what each label's room is sized from, so none is clipped."""
    return sum(_WIDE_W if unicodedata.east_asian_width(c) in "WF" else _CHAR_W for c in text)


def _num(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"


def _ticks(top: float, count: int = 4) -> list[float]:
    """Round tick values from 0 to at least `top`."""
    if top <= 0:
        return [0]
    raw = top / count
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [step * i for i in range(int(top // step) + 2) if step * (i - 1) < top]


def grouped_bars(labels: list[str], series: dict[str, list[float]], colors: list[str], unit: str) -> str:
    """Vertical bars, one group per label, one bar per series, with a legend. The labels under the
    bars are turned 45 degrees; the room below (and left of the first) is what the longest takes."""
    plot_w, plot_h, top_pad = 534, 202, 28
    group_w = plot_w / max(1, len(labels))
    longest = max((text_width(label) for label in labels), default=0.0)
    bottom = max(70, math.ceil(10 + longest * _DIAG + 8))
    # label g hangs left of its group's centre by its turned width: the first ones may need more margin
    overhang = max((text_width(label) * _DIAG - (g + 0.5) * group_w for g, label in enumerate(labels)), default=0.0)
    left = max(56, math.ceil(overhang + 10))  # + the glyphs' ascent, turned with them
    width, height = left + plot_w + 10, top_pad + plot_h + bottom
    top = max((v for vals in series.values() for v in vals), default=0) or 1
    ticks = _ticks(top)
    scale = plot_h / ticks[-1]
    bar_w = group_w * 0.8 / max(1, len(series))
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='{width}' "
           f"height='{height}' {_FONT} role='img'>"]
    for t in ticks:
        y = top_pad + plot_h - t * scale
        out.append(f"<line x1='{left}' x2='{width - 10}' y1='{y:.1f}' y2='{y:.1f}' stroke='#e4e4e4'/>"
                   f"<text x='{left - 4}' y='{y + 4:.1f}' text-anchor='end'>{_num(t)}</text>")
    for g, label in enumerate(labels):
        x0 = left + g * group_w + group_w * 0.1
        for s, (name, vals) in enumerate(series.items()):
            h = vals[g] * scale
            out.append(f"<rect x='{x0 + s * bar_w:.1f}' y='{top_pad + plot_h - h:.1f}' width='{bar_w:.1f}' "
                       f"height='{h:.1f}' fill='{colors[s]}'><title>{escape(name)} {escape(label)}: "
                       f"{_num(vals[g])}</title></rect>")
        cx, cy = left + (g + 0.5) * group_w, top_pad + plot_h + 10
        out.append(f"<text x='{cx:.1f}' y='{cy:.1f}' text-anchor='end' transform='rotate(-45 {cx:.1f} {cy:.1f})'>"
                   f"{escape(label)}</text>")
    out.append(f"<text x='12' y='{top_pad + plot_h / 2:.1f}' text-anchor='middle' "
               f"transform='rotate(-90 12 {top_pad + plot_h / 2:.1f})'>{escape(unit)}</text>")
    for s, name in enumerate(series):
        x = left + 8 + s * 90
        out.append(f"<rect x='{x}' y='8' width='12' height='12' fill='{colors[s]}'/>"
                   f"<text x='{x + 16}' y='18'>{escape(name)}</text>")
    out.append("</svg>")
    return "".join(out)


def horizontal_bars(values: dict[str, float], unit: str, color: str = "#47a", limit: int = 25) -> str:
    """One horizontal bar per key, largest at the top (at most `limit`), each with its value. The label
    column is as wide as the longest label; the bars keep their own width beside it."""
    items = sorted(values.items(), key=lambda kv: kv[1], reverse=True)[:limit]
    label_w = max(40, math.ceil(max(text_width(k) for k, _ in items)) + 8)
    value_w = max(60, math.ceil(max(text_width(_num(v)) for _, v in items)) + 8)
    row, plot_w = 20, 340
    width = label_w + plot_w + value_w
    height = row * len(items) + 30
    top = max(v for _, v in items) or 1
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='{width}' "
           f"height='{height}' {_FONT} role='img'>"]
    for i, (key, v) in enumerate(items):
        y = 4 + i * row
        w = v / top * plot_w
        out.append(f"<text x='{label_w - 6:.1f}' y='{y + 13}' text-anchor='end'>{escape(key)}</text>"
                   f"<rect x='{label_w:.1f}' y='{y + 2}' width='{w:.1f}' height='{row - 6}' fill='{color}'>"
                   f"<title>{escape(key)}: {_num(v)}</title></rect>"
                   f"<text x='{label_w + w + 4:.1f}' y='{y + 13}'>{_num(v)}</text>")
    out.append(f"<text x='{label_w + plot_w / 2:.1f}' y='{height - 6}' text-anchor='middle'>{escape(unit)}</text>")
    out.append("</svg>")
    return "".join(out)
