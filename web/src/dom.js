// DOM and chart helpers. el() sets attributes and appends children as
// text nodes: nothing given to it is ever parsed as HTML.
const SVG = 'http://www.w3.org/2000/svg';

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'checked' || k === 'selected' || k === 'disabled') e[k] = Boolean(v);
    else if (k === 'value') e.value = String(v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === '') continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export function clear(e) {
  while (e.firstChild) e.firstChild.remove();
}

export function human(bytes) {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(bytes) || 0, i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${u[i]}`;
}
export const humanBytes = human;

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

const COLORS = ['#1f6feb', '#cf222e', '#1a7f37', '#9a6700'];

/// A line chart of one or more series of [x, y] points, drawn as SVG.
export function chart(title, series, fmt, id) {
  const W = 300, H = 120, P = 4;
  const box = el('div', { class: 'chart', 'data-chart': id });
  const all = series.flatMap((s) => s.points);
  const last = series.map((s) => s.points.length ? s.points[s.points.length - 1][1] : null);
  box.append(el('h3', {}, title), el('div', { class: 'now' }, last.map((v, i) => v == null ? '' : `${series.length > 1 ? series[i].name + ' ' : ''}${fmt(v)}`).filter(Boolean).join(' · ') || '–'));
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': title });
  s.append(svg('rect', { x: 0, y: 0, width: W, height: H, fill: '#f6f8fa' }));
  if (all.length > 1) {
    const x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]));
    const y1 = Math.max(1e-9, ...all.map((p) => p[1]));
    const X = (x) => P + (W - 2 * P) * (x1 === x0 ? 1 : (x - x0) / (x1 - x0));
    const Y = (y) => H - P - (H - 2 * P) * (y / y1);
    series.forEach((ser, i) => {
      if (ser.points.length < 2) return;
      const d = ser.points.map((p, j) => `${j ? 'L' : 'M'}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join('');
      s.append(svg('path', { d, fill: 'none', stroke: COLORS[i % COLORS.length], 'stroke-width': 1.5, 'vector-effect': 'non-scaling-stroke', 'data-series': ser.name }));
    });
    // The scale in HTML: text inside the stretched SVG would be distorted.
    box.append(el('div', { class: 'muted', style: 'font-size:.75rem;text-align:right' }, `max ${fmt(y1)}`));
  }
  box.append(s);
  return box;
}
