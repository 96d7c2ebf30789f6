// tplog report: the page. Reads the report's data from the JSON block
// in the page, draws the panels, narrows them in the page when a chart
// range or a table row is clicked, and (served by `tplog report --follow`)
// takes updates pushed by the server. Every string from the log is put in
// the page as text (textContent), never as markup.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const DIMS = ["client", "page", "status", "method", "protocol", "vhost", "referer", "agent"];
  // Which cube dimension (or derived one) each panel counts by.
  const PANEL_DIM = {
    pages: "page", static: "page", not_found: "page", clients: "client", sites: "site",
    referers: "referer", agents: "agent", browsers: "browser", os: "os", status: "status",
    methods: "method", protocols: "protocol", vhosts: "vhost",
  };
  const STATIC_EXT = new Set(("css js mjs map png jpg jpeg gif svg ico webp avif bmp woff woff2 ttf otf eot " +
    "mp3 mp4 webm ogg wav pdf zip gz tgz bz2 xz 7z rar txt csv xml json swf flv iso dmg exe deb rpm tar").split(" "));
  const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const BUCKETS = [60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400, 30 * 86400, 365 * 86400];

  let data = JSON.parse(document.getElementById("report-data").textContent);
  // The narrowing: a time range (inclusive, in minutes of the log's clock) and one key per dimension.
  let narrow = { from: null, to: null, keys: {} };
  // Per panel: its sort column and direction, and its filter text.
  const tableState = {};

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of kids) if (c !== null && c !== undefined) e.append(typeof c === "string" ? document.createTextNode(c) : c);
    return e;
  }
  function svg(tag, attrs, ...kids) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    for (const c of kids) if (c) e.append(c);
    return e;
  }
  const fmtInt = (n) => Number(n).toLocaleString("en-US");
  function fmtBytes(n) {
    const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let v = Number(n), i = 0;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return i === 0 ? `${n} B` : `${v.toFixed(1)} ${u[i]}`;
  }
  function fmtMicros(us) {
    if (us < 1000) return `${us} µs`;
    if (us < 1e6) return `${(us / 1e3).toFixed(3)} ms`;
    return `${(us / 1e6).toFixed(3)} s`;
  }
  const pad = (n) => String(n).padStart(2, "0");
  // Seconds of the log's wall clock → `08/Feb/2014:07:05` (the log's own form), UTC arithmetic.
  function clock(secs, withSeconds) {
    const d = new Date(secs * 1000);
    const s = `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    return withSeconds ? `${s}:${pad(d.getUTCSeconds())}` : s;
  }
  function isoMinute(min) {
    const d = new Date(min * 60000);
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  }
  function parseIsoMinute(s) {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(s || "");
    return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]) / 60000 : null;
  }
  const isoDay = (day) => { const d = new Date(day * 86400000); return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`; };
  function isStatic(path) {
    const name = path.slice(path.lastIndexOf("/") + 1);
    const i = name.lastIndexOf(".");
    return i >= 0 && i + 1 < name.length && STATIC_EXT.has(name.slice(i + 1).toLowerCase());
  }
  function refererSite(r) {
    const i = r.indexOf("://");
    if (i > 0 && /^[A-Za-z0-9+.-]+$/.test(r.slice(0, i))) {
      const rest = r.slice(i + 3);
      const m = rest.search(/[/?#]/);
      return m < 0 ? rest : rest.slice(0, m);
    }
    return r;
  }
  // Byte order for ASCII keys, as `tplog GROUP` sorts (code units otherwise).
  const keyCmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  const bucketFor = (span) => BUCKETS.find((w) => Math.floor(span / w) < 240) || BUCKETS[BUCKETS.length - 1];

  // ---- the narrowing, kept in the URL fragment ----
  function readHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    const n = { from: parseIsoMinute(p.get("from")), to: parseIsoMinute(p.get("to")), keys: {} };
    for (const d of DIMS.concat(["site", "browser", "os"])) if (p.has(d)) n.keys[d] = p.get(d);
    return n;
  }
  function writeHash() {
    const p = new URLSearchParams();
    if (narrow.from !== null) p.set("from", isoMinute(narrow.from));
    if (narrow.to !== null) p.set("to", isoMinute(narrow.to));
    for (const [k, v] of Object.entries(narrow.keys)) p.set(k, v);
    const h = p.toString();
    history.replaceState(null, "", h ? `#${h}` : location.pathname + location.search);
  }
  const narrowed = () => narrow.from !== null || narrow.to !== null || Object.keys(narrow.keys).length > 0;
  function setNarrow(n) { narrow = n; writeHash(); render(); }

  // ---- the view: from the report's tables, or computed from the cube ----
  function viewFromData() {
    const o = data.overview;
    return {
      overview: o, exact: true, timeline: data.timeline, heatmap: data.heatmap, days: data.days,
      panels: data.panels.map((p) => ({ ...p, all: false })),
    };
  }
  function viewFromCube() {
    const c = data.cube, d = c.dims;
    const from = narrow.from, to = narrow.to;
    const want = {};
    for (const [k, v] of Object.entries(narrow.keys)) want[k] = v;
    const per = {};
    for (const id of Object.keys(PANEL_DIM)) per[id] = new Map();
    const add = (m, k, h, b) => { const e = m.get(k); if (e) { e[0] += h; e[1] += b; } else m.set(k, [h, b]); };
    const minutes = new Map();
    const visitors = new Set(), dayVisitors = new Map(), dayReq = new Map();
    const heat = Array.from({ length: 7 }, () => new Array(24).fill(0));
    let requests = 0, bytes = 0, first = null, last = null;
    const pages = new Set();
    for (const r of c.rows) {
      const min = c.minute0 + r[0];
      if (from !== null && min < from) continue;
      if (to !== null && min > to) continue;
      const key = {
        client: d.client[r[1]], page: d.page[r[2]], status: d.status[r[3]], method: d.method[r[4]],
        protocol: d.protocol[r[5]], vhost: d.vhost[r[6]], referer: d.referer[r[7]], agent: d.agent[r[8]],
      };
      key.site = refererSite(key.referer);
      key.browser = d.browser[d.agent_kind[r[8]][0]];
      key.os = d.os[d.agent_kind[r[8]][1]];
      let ok = true;
      for (const k in want) if (key[k] !== want[k]) { ok = false; break; }
      if (!ok) continue;
      const h = r[9], b = r[10];
      requests += h; bytes += b;
      if (first === null || min < first) first = min;
      if (last === null || min > last) last = min;
      minutes.set(min, (minutes.get(min) || 0) + h);
      const day = Math.floor(min / 1440);
      const vkey = `${day}\u0000${r[1]}\u0000${r[8]}`;
      if (!visitors.has(vkey)) { visitors.add(vkey); dayVisitors.set(day, (dayVisitors.get(day) || 0) + 1); }
      dayReq.set(day, (dayReq.get(day) || 0) + h);
      heat[(((day + 3) % 7) + 7) % 7][Math.floor((min % 1440) / 60)] += h;
      if (!(key.page === "-" && key.method === "-")) pages.add(key.page);
      add(per.pages, key.page, h, b);
      if (isStatic(key.page)) add(per.static, key.page, h, b);
      if (key.status === "404") add(per.not_found, key.page, h, b);
      add(per.clients, key.client, h, b);
      add(per.sites, key.site, h, b);
      add(per.referers, key.referer, h, b);
      add(per.agents, key.agent, h, b);
      add(per.browsers, key.browser, h, b);
      add(per.os, key.os, h, b);
      add(per.status, key.status, h, b);
      add(per.methods, key.method, h, b);
      add(per.protocols, key.protocol, h, b);
      add(per.vhosts, key.vhost, h, b);
    }
    const span = first === null ? 0 : (last - first) * 60;
    const bucket = bucketFor(Math.max(span, 1));
    const start = first === null ? 0 : Math.floor((first * 60) / bucket) * bucket;
    const nb = first === null ? 0 : (Math.floor((last * 60) / bucket) * bucket - start) / bucket + 1;
    const counts = new Array(nb).fill(0);
    for (const [m, n] of minutes) counts[(Math.floor((m * 60) / bucket) * bucket - start) / bucket] += n;
    const days = [...dayReq.keys()].sort((a, b) => a - b).map((dd) => ({ day: isoDay(dd), requests: dayReq.get(dd), visitors: dayVisitors.get(dd) || 0 }));
    const panels = data.panels.map((p) => ({
      id: p.id, title: p.title, key: p.key, all: true,
      rows: [...per[p.id]].map(([k, v]) => ({ key: k, hits: v[0], bytes: v[1] })),
    }));
    const whole = data.overview;
    return {
      exact: !narrowed(),
      overview: {
        requests, visitors: visitors.size, bytes_total: bytes, malformed: narrowed() ? null : whole.malformed,
        lines: narrowed() ? null : whole.lines,
        distinct_ips: per.clients.size, distinct_pages: pages.size,
        first: first === null ? null : narrowed() ? clock(first * 60) : whole.first,
        last: last === null ? null : narrowed() ? clock(last * 60) : whole.last,
        span_secs: narrowed() ? span : whole.span_secs,
        bytes: narrowed() ? null : whole.bytes, response_time_us: narrowed() ? null : whole.response_time_us,
        bytes_unknown: narrowed() ? null : whole.bytes_unknown,
      },
      timeline: { bucket_secs: bucket, start, counts }, heatmap: heat, days, panels,
    };
  }

  // ---- drawing ----
  function card(title, ...kids) { return el("section", { class: "card" }, el("h2", {}, title), ...kids); }
  // `08/Feb/2014:07:05:03` may wrap after its date, not inside a number.
  const breakable = (t) => (t ? t.replace(/^(\d\d\/\w{3}\/\d{4}):/, "$1:\u200b") : "—");
  function overviewCard(v) {
    const o = v.overview;
    const items = [
      ["Requests", fmtInt(o.requests), "requests"],
      ["Unique visitors", fmtInt(o.visitors), "visitors"],
      ["Bytes sent", fmtBytes(o.bytes_total), "bytes"],
      ["Clients", fmtInt(o.distinct_ips), "clients"],
      ["Pages", fmtInt(o.distinct_pages), "pages"],
      ["First", breakable(o.first), "first"],
      ["Last", breakable(o.last), "last"],
      ["Malformed lines", o.malformed === null ? "—" : fmtInt(o.malformed), "malformed"],
    ];
    if (o.bytes) items.push(["Bytes p50 / p99", `${fmtInt(o.bytes.p50)} / ${fmtInt(o.bytes.p99)}`, "bytes-pct"]);
    if (o.response_time_us) {
      const t = o.response_time_us;
      items.push(["Time p50 / p90", `${fmtMicros(t.p50)} / ${fmtMicros(t.p90)}`, "time-p50"]);
      items.push(["Time p99 / max", `${fmtMicros(t.p99)} / ${fmtMicros(t.max)}`, "time-p99"]);
    }
    const grid = el("div", { class: "stats" });
    for (const [label, value, id] of items) grid.append(el("div", { class: "stat", "data-stat": id }, el("span", { class: "label" }, label), el("span", { class: "value" }, value)));
    const files = data.files.map((f) => `${f.name} (${f.format})`).join(", ");
    return card("Overview", grid, el("p", { class: "muted" }, `${files}${data.filters.length ? " · filters: " + data.filters.join(" ") : ""}`));
  }

  function barChart(id, title, bars, opts) {
    // bars: [{label, value, t0, t1}] ; opts.select(t0, t1) when dragged over.
    const W = 900, H = 220, L = 56, B = 28, T = 8;
    const max = Math.max(1, ...bars.map((b) => b.value));
    const bw = (W - L - 8) / Math.max(1, bars.length);
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", "data-chart": id, role: "img", "aria-label": title });
    for (let i = 0; i <= 4; i++) {
      const y = T + ((H - T - B) * i) / 4;
      s.append(svg("line", { x1: L, x2: W - 4, y1: y, y2: y, class: "grid" }));
      const v = (max * (4 - i)) / 4;
      // Small counts: only the whole numbers get a label.
      if (max >= 8 || Number.isInteger(v)) {
        const lbl = svg("text", { x: L - 6, y: y + 4, class: "axis", "text-anchor": "end" });
        lbl.textContent = fmtInt(Math.round(v));
        s.append(lbl);
      }
    }
    bars.forEach((b, i) => {
      const h = ((H - T - B) * b.value) / max;
      const r = svg("rect", { x: L + i * bw + 0.5, y: H - B - h, width: Math.max(1, bw - 1), height: h, class: "bar", "data-i": i, "data-value": b.value });
      const tip = svg("title");
      tip.textContent = `${b.label}: ${fmtInt(b.value)}`;
      r.append(tip);
      s.append(r);
    });
    const step = Math.max(1, Math.ceil(bars.length / 8));
    for (let i = 0; i < bars.length; i += step) {
      const t = svg("text", { x: L + i * bw + bw / 2, y: H - 8, class: "axis", "text-anchor": "middle" });
      t.textContent = bars[i].short || bars[i].label;
      s.append(t);
    }
    if (opts && opts.select) {
      const sel = svg("rect", { class: "selection", y: T, height: H - T - B, x: 0, width: 0, visibility: "hidden" });
      s.append(sel);
      let start = null;
      const idx = (ev) => {
        const p = s.getBoundingClientRect();
        const x = ((ev.clientX - p.left) / p.width) * W;
        return Math.min(bars.length - 1, Math.max(0, Math.floor((x - L) / bw)));
      };
      s.addEventListener("pointerdown", (ev) => { start = idx(ev); s.setPointerCapture(ev.pointerId); });
      s.addEventListener("pointermove", (ev) => {
        if (start === null) return;
        const a = Math.min(start, idx(ev)), b = Math.max(start, idx(ev));
        sel.setAttribute("x", L + a * bw); sel.setAttribute("width", (b - a + 1) * bw); sel.setAttribute("visibility", "visible");
      });
      s.addEventListener("pointerup", (ev) => {
        if (start === null) return;
        const a = Math.min(start, idx(ev)), b = Math.max(start, idx(ev));
        start = null;
        opts.select(bars[a].t0, bars[b].t1);
      });
    }
    return card(title, s, opts && opts.note ? el("p", { class: "muted" }, opts.note) : null);
  }

  function timelineCard(v) {
    const t = v.timeline;
    const bars = t.counts.map((n, i) => {
      const t0 = t.start + i * t.bucket_secs;
      const lab = clock(t0);
      return { value: n, t0, t1: t0 + t.bucket_secs - 1, label: lab, short: t.bucket_secs >= 86400 ? lab.slice(0, 11) : lab.slice(12) };
    });
    const width = t.bucket_secs >= 86400 ? `${t.bucket_secs / 86400} d` : t.bucket_secs >= 3600 ? `${t.bucket_secs / 3600} h` : `${t.bucket_secs / 60} min`;
    return barChart("requests", `Requests over time (per ${width})`, bars, {
      note: data.cube ? "Drag across the bars to narrow every panel to that time range." : data.cube_note,
      select: data.cube ? (t0, t1) => setNarrow({ ...narrow, from: Math.floor(t0 / 60), to: Math.floor(t1 / 60) }) : null,
    });
  }
  function daysCard(v) {
    const bars = v.days.map((d) => {
      const t0 = Date.parse(`${d.day}T00:00:00Z`) / 1000;
      return { value: d.visitors, t0, t1: t0 + 86399, label: `${d.day} (${fmtInt(d.requests)} requests)`, short: d.day.slice(5) };
    });
    return barChart("visitors", "Unique visitors per day", bars, {
      select: data.cube ? (t0, t1) => setNarrow({ ...narrow, from: Math.floor(t0 / 60), to: Math.floor(t1 / 60) }) : null,
    });
  }
  function heatmapCard(v) {
    const W = 900, H = 210, L = 40, T = 18, cw = (W - L - 4) / 24, ch = (H - T - 4) / 7;
    const max = Math.max(1, ...v.heatmap.flat());
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart heat", "data-chart": "heatmap", role: "img", "aria-label": "Requests by hour and day of week" });
    for (let h = 0; h < 24; h += 2) { const t = svg("text", { x: L + h * cw + cw / 2, y: 12, class: "axis", "text-anchor": "middle" }); t.textContent = pad(h); s.append(t); }
    v.heatmap.forEach((row, d) => {
      const t = svg("text", { x: L - 6, y: T + d * ch + ch / 2 + 4, class: "axis", "text-anchor": "end" });
      t.textContent = DAYS[d];
      s.append(t);
      row.forEach((n, h) => {
        const r = svg("rect", { x: L + h * cw + 1, y: T + d * ch + 1, width: cw - 2, height: ch - 2, rx: 2, class: "cell", "fill-opacity": n ? 0.12 + (0.88 * n) / max : 0.04, "data-value": n });
        const tip = svg("title");
        tip.textContent = `${DAYS[d]} ${pad(h)}:00–${pad(h)}:59: ${fmtInt(n)}`;
        r.append(tip);
        s.append(r);
      });
    });
    return card("Requests by day of week and hour", s);
  }

  function panelCard(p, total) {
    const st = tableState[p.id] || (tableState[p.id] = { col: "hits", desc: true, filter: "" });
    const dim = PANEL_DIM[p.id];
    const canNarrow = !!data.cube;
    const body = el("tbody");
    const foot = el("p", { class: "muted more" });
    const draw = () => {
      const f = st.filter.toLowerCase();
      let rows = p.rows.filter((r) => !f || r.key.toLowerCase().includes(f));
      rows.sort((a, b) => {
        const c = st.col === "key" ? keyCmp(a.key, b.key) : a[st.col] - b[st.col];
        return (st.desc ? -c : c) || (st.col === "key" ? 0 : keyCmp(a.key, b.key));
      });
      const shown = rows.slice(0, data.top);
      body.replaceChildren(...shown.map((r) => {
        const tr = el("tr", { "data-key": r.key },
          el("td", { class: "key", title: r.key }, r.key),
          el("td", { class: "num" }, fmtInt(r.hits)),
          el("td", { class: "num pct" }, total ? `${((100 * r.hits) / total).toFixed(1)}%` : "—"),
          el("td", { class: "num" }, fmtBytes(r.bytes)));
        if (canNarrow) {
          tr.classList.add("clickable");
          tr.addEventListener("click", () => setNarrow({ ...narrow, keys: { ...narrow.keys, [dim]: r.key } }));
        }
        return tr;
      }));
      const hidden = rows.length - shown.length + (p.all || f ? 0 : p.rest_keys || 0);
      const hiddenHits = rows.slice(data.top).reduce((s, r) => s + r.hits, 0) + (p.all || f ? 0 : p.rest_hits || 0);
      foot.textContent = hidden > 0 ? `+ ${fmtInt(hidden)} more (${fmtInt(hiddenHits)} requests)` : "";
    };
    const th = (col, label, cls) => {
      const h = el("th", { class: cls || "", "data-col": col, tabindex: "0" }, label);
      const go = () => { if (st.col === col) st.desc = !st.desc; else { st.col = col; st.desc = col !== "key"; } draw(); mark(); };
      h.addEventListener("click", go);
      h.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
      return h;
    };
    const head = el("tr", {}, th("key", p.key), th("hits", "requests", "num"), el("th", { class: "num" }, "%"), th("bytes", "bytes", "num"));
    const mark = () => { for (const h of head.children) h.classList.toggle("sorted", h.dataset.col === st.col); };
    const input = el("input", { type: "search", placeholder: `filter ${p.title.toLowerCase()}`, "aria-label": `filter ${p.title}`, value: st.filter });
    input.addEventListener("input", () => { st.filter = input.value; draw(); });
    draw(); mark();
    const c = card(p.title, input, el("div", { class: "scroll" }, el("table", {}, el("thead", {}, head), body)), foot);
    c.dataset.panel = p.id;
    return c;
  }

  function narrowBar() {
    const chips = [];
    if (narrow.from !== null || narrow.to !== null) {
      chips.push(el("span", { class: "chip", "data-narrow": "time" },
        `${narrow.from !== null ? clock(narrow.from * 60) : "start"} → ${narrow.to !== null ? clock(narrow.to * 60) : "end"}`,
        el("button", { "aria-label": "remove the time range", onclick: () => setNarrow({ ...narrow, from: null, to: null }) }, "×")));
    }
    for (const [k, v] of Object.entries(narrow.keys)) {
      chips.push(el("span", { class: "chip", "data-narrow": k }, `${k} = ${v}`,
        el("button", { "aria-label": `remove ${k}`, onclick: () => { const keys = { ...narrow.keys }; delete keys[k]; setNarrow({ ...narrow, keys }); } }, "×")));
    }
    if (!chips.length) return null;
    return el("div", { class: "narrow", id: "narrow" }, el("strong", {}, "Narrowed to "), ...chips,
      el("button", { class: "reset", onclick: () => setNarrow({ from: null, to: null, keys: {} }) }, "show everything"),
      el("span", { class: "muted" }, " Percentiles and malformed lines are whole-log figures."));
  }

  function render() {
    const v = data.cube ? viewFromCube() : viewFromData();
    const app = document.getElementById("app");
    const total = v.overview.requests;
    const live = data.live ? el("span", { class: "live", id: "live" }, "live") : null;
    app.replaceChildren(
      el("header", {}, el("h1", {}, "Access log report ", live), el("span", { class: "muted" }, `${data.generator} · ${fmtInt(data.overview.lines)} lines`)),
      narrowBar() || "",
      overviewCard(v), timelineCard(v), daysCard(v), heatmapCard(v),
      el("div", { class: "panels" }, ...v.panels.map((p) => panelCard(p, total))),
    );
    document.body.dataset.ready = String((Number(document.body.dataset.ready) || 0) + 1);
  }

  window.addEventListener("hashchange", () => { narrow = readHash(); render(); });
  narrow = readHash();
  render();

  if (data.live) {
    const token = new URLSearchParams(location.search).get("token") || "";
    const es = new EventSource(`events?token=${encodeURIComponent(token)}`);
    es.addEventListener("report", (ev) => { data = JSON.parse(ev.data); render(); });
    es.addEventListener("error", () => { const l = document.getElementById("live"); if (l) l.textContent = "reconnecting"; });
  }
})();
