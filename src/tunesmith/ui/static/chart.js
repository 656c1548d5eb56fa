// Charts as inline SVG: a line chart for loss curves and bar charts for the data report. No library:
// the few hundred points of a loss curve need axes, ticks and a polyline, nothing more.

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

// About `count` round tick values covering [lo, hi].
export function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

const fmt = (v) => (Math.abs(v) >= 1000 ? v.toLocaleString("en") : String(+v.toPrecision(4)));

// series: [{name, cls, points: [[x, y], ...], dots: bool}]
export function lineChart(series, {width = 640, height = 260, xLabel = "step", yLabel = ""} = {}) {
  const m = {left: 52, right: 14, top: 14, bottom: 36};
  const root = svg("svg", {viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img"});
  const all = series.flatMap((s) => s.points);
  if (!all.length) {
    root.append(svg("text", {x: width / 2, y: height / 2, "text-anchor": "middle", class: "empty"}, "no points yet"));
    return root;
  }
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x1 === x0) x1 = x0 + 1;
  const pad = (y1 - y0) * 0.08 || Math.abs(y0) * 0.1 || 1;
  y0 -= pad; y1 += pad;
  const X = (x) => m.left + ((x - x0) / (x1 - x0)) * (width - m.left - m.right);
  const Y = (y) => height - m.bottom - ((y - y0) / (y1 - y0)) * (height - m.top - m.bottom);
  const axes = svg("g", {class: "axes"});
  for (const t of ticks(y0, y1)) {
    axes.append(svg("line", {x1: m.left, x2: width - m.right, y1: Y(t), y2: Y(t), class: "grid"}));
    axes.append(svg("text", {x: m.left - 6, y: Y(t) + 4, "text-anchor": "end"}, fmt(t)));
  }
  for (const t of ticks(x0, x1, 6).filter((t) => Number.isInteger(t) || x1 - x0 < 6)) {
    axes.append(svg("text", {x: X(t), y: height - m.bottom + 16, "text-anchor": "middle"}, fmt(t)));
  }
  axes.append(svg("text", {x: (m.left + width - m.right) / 2, y: height - 4, "text-anchor": "middle", class: "label"},
    xLabel));
  if (yLabel) axes.append(svg("text", {x: 12, y: m.top + 4, class: "label"}, yLabel));
  root.append(axes);
  const legend = svg("g", {class: "legend"});
  series.forEach((s, i) => {
    if (!s.points.length) return;
    const path = s.points.map((p) => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" ");
    root.append(svg("polyline", {points: path, class: `series ${s.cls}`, "data-series": s.name,
      "data-points": s.points.length}));
    if (s.dots) for (const p of s.points) root.append(svg("circle", {cx: X(p[0]), cy: Y(p[1]), r: 3.5, class: `dot ${s.cls}`}));
    const lx = width - m.right - 150, ly = m.top + 6 + i * 16;
    legend.append(svg("line", {x1: lx, x2: lx + 18, y1: ly, y2: ly, class: `series ${s.cls}`}));
    legend.append(svg("text", {x: lx + 24, y: ly + 4}, `${s.name} ${fmt(s.points.at(-1)[1])}`));
  });
  root.append(legend);
  return root;
}

// Grouped vertical bars: labels[i] with one bar per group (groups: [{name, cls, values}]).
export function barChart(labels, groups, {width = 640, height = 240, yLabel = ""} = {}) {
  const m = {left: 48, right: 10, top: 22, bottom: 58};
  const root = svg("svg", {viewBox: `0 0 ${width} ${height}`, class: "chart bars", role: "img"});
  const top = Math.max(1, ...groups.flatMap((g) => g.values));
  const band = (width - m.left - m.right) / Math.max(labels.length, 1);
  const bar = (band * 0.8) / groups.length;
  const Y = (v) => height - m.bottom - (v / top) * (height - m.top - m.bottom);
  for (const t of ticks(0, top, 4)) {
    root.append(svg("line", {x1: m.left, x2: width - m.right, y1: Y(t), y2: Y(t), class: "grid"}));
    root.append(svg("text", {x: m.left - 6, y: Y(t) + 4, "text-anchor": "end"}, fmt(t)));
  }
  labels.forEach((label, i) => {
    const x = m.left + i * band + band * 0.1;
    groups.forEach((g, k) => {
      const v = g.values[i];
      const rect = svg("rect", {x: x + k * bar, y: Y(v), width: Math.max(bar - 1, 1), height: Y(0) - Y(v),
        class: `bar ${g.cls}`});
      rect.append(svg("title", {}, `${g.name} ${label}: ${v}`));
      root.append(rect);
    });
    const tx = x + band * 0.4, ty = height - m.bottom + 12;
    root.append(svg("text", {x: tx, y: ty, "text-anchor": "end", transform: `rotate(-40 ${tx} ${ty})`}, label));
  });
  groups.forEach((g, k) => {
    root.append(svg("rect", {x: width - m.right - 150 + k * 75, y: 4, width: 12, height: 10, class: `bar ${g.cls}`}));
    root.append(svg("text", {x: width - m.right - 134 + k * 75, y: 13}, g.name));
  });
  if (yLabel) root.append(svg("text", {x: 4, y: 12, class: "label"}, yLabel));
  return root;
}
