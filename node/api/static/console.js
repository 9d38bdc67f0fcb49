// peermind console: one page, no dependencies, no build step.
// Reads /console/state once, then follows /events (server-sent events read with fetch
// streaming, so the API token can travel in an Authorization header).
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const TOKEN_KEY = "peermind.console.token";
const FEED_LIMIT = 80;
const TIER_COLOURS = {
  device: "#2dd4bf", small: "#2dd4bf", edge: "#fbbf24",
  cloud: "#a78bfa", large: "#a78bfa", server: "#f472b6", unknown: "#64748b",
};

const S = {
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  node: null,
  modes: [],
  topology: { nodes: [], edges: [], self: "" },
  trust: { peers: {}, thresholds: { ask: 0.12, prior: 0.3 } },
  training: { rounds: [] },
  feed: [],
  lastEventId: 0,
  stream: null,
  uptimeBase: 0,
  uptimeAt: 0,
  hover: null,
};

// ------------------------------------------------------------------ small helpers
const $ = (id) => document.getElementById(id);

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") el.textContent = v;
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c) el.append(c);
  return el;
}

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
const fmt = (v, digits = 0, unit = "") => (num(v) === null ? "n/a" : `${v.toFixed(digits)}${unit}`);
const fmtMs = (v) => (num(v) === null ? "n/a" : v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
const fmtCost = (v) => (num(v) === null ? "n/a" : v === 0 ? "0" : v < 0.001 ? v.toExponential(1) : v.toFixed(4));
const fmtTime = (t) => (num(t) === null ? "" : new Date(t * 1000).toLocaleTimeString([], { hour12: false }));

function shortId(id) {
  if (!id) return "?";
  if (id === S.topology.self) return "this node";
  return "…" + String(id).slice(-6);
}

function tierColour(tier) {
  if (TIER_COLOURS[tier]) return TIER_COLOURS[tier];
  let hash = 0;
  for (const ch of String(tier)) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return `hsl(${hash % 360} 70% 62%)`;
}

function nodeInfo(peer) {
  return S.topology.nodes.find((n) => n.peer_id === peer) || null;
}

function peerChip(peer, failed) {
  const info = nodeInfo(peer);
  return h("span", { class: failed ? "chip fail" : "chip", title: peer },
    h("i", { class: "tier-dot", "data-tier": info ? info.tier : "unknown" }), shortId(peer));
}

function paintDots(root) {
  for (const dot of root.querySelectorAll("i[data-tier]")) dot.style.background = tierColour(dot.dataset.tier);
}

function trustOf(peer) {
  const t = S.trust && S.trust.peers ? S.trust.peers[peer] : null;
  return t || null;
}

function isBelow(t) {
  if (!t) return false;
  const ask = (S.trust.thresholds && S.trust.thresholds.ask) || 0.12;
  return (num(t.score) !== null && t.score < ask) || t.standing === "do_not_ask" || t.standing === "banned";
}

// ------------------------------------------------------------------ API access
function authHeaders(extra) {
  const headers = Object.assign({}, extra || {});
  if (S.token) headers.Authorization = `Bearer ${S.token}`;
  return headers;
}

class AuthNeeded extends Error {}

async function api(path, options) {
  const opts = Object.assign({ cache: "no-store" }, options || {});
  opts.headers = authHeaders(opts.headers);
  const res = await fetch(path, opts);
  if (res.status === 401) {
    askForToken(S.token ? "That token was not accepted." : "");
    throw new AuthNeeded("API token needed");
  }
  let body = null;
  try { body = await res.json(); } catch (_) { body = null; }
  if (!res.ok) {
    const msg = body && body.error ? body.error.message : `HTTP ${res.status}`;
    throw new Error(msg);
  }
  return body;
}

function askForToken(message) {
  $("token-modal").hidden = false;
  $("token-error").hidden = !message;
  $("token-error").textContent = message || "";
  $("token-input").focus();
}

// ------------------------------------------------------------------ whole state
async function loadState() {
  const st = await api("/console/state");
  applyState(st);
  return st;
}

function applyState(st) {
  if (st.node && !st.node.error) renderNode(st.node);
  if (Array.isArray(st.modes)) setModes(st.modes);
  if (st.trust && !st.trust.error) S.trust = st.trust;
  if (st.topology && !st.topology.error) S.topology = st.topology;
  renderTopology();
  if (st.training && !st.training.error) S.training = st.training;
  renderTraining();
  rebuildFeed(Array.isArray(st.answers) ? st.answers : [], Array.isArray(st.tasks) ? st.tasks : []);
  renderTrust();
  if (st.events && num(st.events.last_id) !== null) S.lastEventId = Math.max(S.lastEventId, st.events.last_id);
}

function renderNode(node) {
  S.node = node;
  $("fact-network").textContent = node.network || "?";
  $("fact-node").textContent = node.peer_id ? "…" + node.peer_id.slice(-10) : "?";
  $("fact-node").title = node.peer_id || "";
  const m = node.model || {};
  $("fact-model").textContent = `${m.name || "?"} · ${fmt(m.gen_tps, 0)} tok/s`;
  const q = node.queue || {};
  $("fact-queue").textContent = `${q.depth ?? "?"}/${q.max ?? "?"}`;
  if (num(node.uptime_s) !== null) { S.uptimeBase = node.uptime_s; S.uptimeAt = performance.now(); }
}

function tickUptime() {
  if (!S.uptimeAt) return;
  const up = Math.floor(S.uptimeBase + (performance.now() - S.uptimeAt) / 1000);
  const hh = Math.floor(up / 3600), mm = Math.floor((up % 3600) / 60), ss = up % 60;
  $("fact-uptime").textContent = hh ? `${hh}h ${mm}m` : mm ? `${mm}m ${ss}s` : `${ss}s`;
}

function setModes(modes) {
  const key = modes.join(",");
  if (S.modes.join(",") === key) return;
  S.modes = modes;
  const select = $("chat-mode");
  const previous = select.value || "auto";
  select.replaceChildren(...modes.map((m) => h("option", { value: m, text: m })));
  select.value = modes.includes(previous) ? previous : modes[0];
}

// ------------------------------------------------------------------ topology
function renderTopology() {
  const svg = $("topology");
  const width = svg.clientWidth || 640, height = svg.clientHeight || 360;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const nodes = S.topology.nodes || [];
  const cx = width / 2;
  const cy = height / 2 + ((nodes.filter((n) => !n.self && n.connected).length === 2) ? height * 0.12 : 6);
  const me = nodes.find((n) => n.self);
  const others = nodes.filter((n) => !n.self).sort((a, b) => (a.peer_id < b.peer_id ? -1 : 1));
  const inner = others.filter((n) => n.connected), outer = others.filter((n) => !n.connected);
  const base = Math.min(width, height);
  const pos = new Map();
  if (me) pos.set(me.peer_id, [cx, cy]);
  // Peers around this node; two peers form a "V" above it rather than a straight line.
  const ring = (list, radius, offset) => list.forEach((n, i) => {
    let angle;
    if (list.length === 1) angle = offset;
    else if (list.length === 2) angle = offset - Math.PI / 2 + (i ? 1 : -1) * (Math.PI / 3);
    else angle = -Math.PI / 2 + offset + (2 * Math.PI * i) / list.length;
    pos.set(n.peer_id, [cx + radius * 1.25 * Math.cos(angle), cy + radius * Math.sin(angle)]);
  });
  ring(inner, base * 0.32, 0);
  ring(outer, base * 0.43, Math.PI / Math.max(outer.length, 2));
  const maxTps = Math.max(1, ...nodes.map((n) => num(n.gen_tps) || 0));
  const radius = (n) => 13 + 17 * Math.sqrt((num(n.gen_tps) || 0) / maxTps);

  const layer = [];
  for (const n of outer) {
    if (!me) break;
    const [x1, y1] = pos.get(me.peer_id), [x2, y2] = pos.get(n.peer_id);
    layer.push(s("line", { class: "ghost-edge", x1, y1, x2, y2 }));
  }
  for (const e of S.topology.edges || []) {
    const a = pos.get(e.source), b = pos.get(e.target);
    if (!a || !b) continue;
    layer.push(s("line", { class: "edge", "data-edge": e.target, x1: a[0], y1: a[1], x2: b[0], y2: b[1] }));
  }
  for (const n of [...(me ? [me] : []), ...others]) {
    const [x, y] = pos.get(n.peer_id);
    const r = radius(n);
    const t = n.trust || trustOf(n.peer_id);
    const g = s("g", { class: `node${n.self ? " self" : ""}`, "data-peer": n.peer_id, transform: `translate(${x},${y})` });
    if (isBelow(t)) g.append(s("circle", { class: "halo", r: r + 6 }));
    if ((num(n.queue_depth) || 0) > 0) g.append(s("circle", { class: "busy", r: r + 3 }));
    g.append(s("circle", { class: "body", r, fill: tierColour(n.tier) }));
    g.append(s("text", { y: r + 16, text: n.self ? "this node" : shortId(n.peer_id) }));
    g.append(s("text", { class: "small", y: r + 30, text: n.model || "?" }));
    layer.push(g);
  }
  svg.replaceChildren(...layer);

  const peers = nodes.length;
  $("peer-count").textContent = `${peers} ${peers === 1 ? "node" : "nodes"} · ${(S.topology.edges || []).length} live connections`;
  $("peer-count").dataset.count = String(peers);
  const tiers = [...new Set(nodes.map((n) => n.tier || "unknown"))].sort();
  $("legend").replaceChildren(...tiers.map((t) => {
    const dot = h("i");
    dot.style.background = tierColour(t);
    return h("span", {}, dot, t);
  }));
  if (S.hover) showTooltip(S.hover.peer, S.hover.x, S.hover.y);
}

function showTooltip(peer, x, y) {
  const n = nodeInfo(peer);
  const tip = $("tooltip");
  if (!n) { tip.hidden = true; return; }
  const t = n.trust || trustOf(peer);
  const rows = [
    ["model", `${n.model || "?"}${num(n.params_m) !== null ? ` (${Math.round(n.params_m)}M)` : ""}`],
    ["tier", n.tier || "?"],
    ["gen tokens/s", fmt(n.gen_tps, 1)],
    ["prompt tokens/s", fmt(n.prompt_tps, 0)],
    ["queue", `${n.queue_depth ?? "?"}/${n.max_queue ?? "?"}`],
    ["load", fmt(n.load, 2)],
    ["cost / 1k tokens", fmtCost(n.cost_per_1k)],
    ["tags", (n.tags || []).join(", ") || "–"],
    ["local trust", n.self ? "self" : t && num(t.score) !== null ? `${t.score.toFixed(3)}${t.standing ? ` · ${t.standing}` : ""}` : "n/a"],
    ["global trust", n.self ? "self" : t && num(t.global) !== null ? t.global.toFixed(3) : "n/a"],
    ["connection", n.self ? "–" : n.connected ? "live" : "known from its ad"],
  ];
  tip.replaceChildren(
    h("h3", { class: "mono" }, n.self ? `this node ${shortIdRaw(peer)}` : shortIdRaw(peer)),
    h("dl", { class: "kv" }, rows.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })])),
  );
  tip.hidden = false;
  const wrap = tip.parentElement.getBoundingClientRect();
  // Open away from the pointer's side, so the tooltip never hides the node it describes.
  const left = x > wrap.width / 2 ? x - tip.offsetWidth - 24 : Math.min(x + 24, wrap.width - tip.offsetWidth - 8);
  const top = Math.min(Math.max(8, y - tip.offsetHeight / 2), wrap.height - tip.offsetHeight - 8);
  tip.style.left = `${Math.max(8, left)}px`;
  tip.style.top = `${Math.max(8, top)}px`;
}

const shortIdRaw = (id) => (id ? `${id.slice(0, 8)}…${id.slice(-6)}` : "?");

function wireTopology() {
  const svg = $("topology");
  svg.addEventListener("mousemove", (ev) => {
    const g = ev.target.closest("g.node");
    const rect = svg.getBoundingClientRect();
    if (!g) { S.hover = null; $("tooltip").hidden = true; return; }
    S.hover = { peer: g.dataset.peer, x: ev.clientX - rect.left, y: ev.clientY - rect.top };
    showTooltip(S.hover.peer, S.hover.x, S.hover.y);
  });
  svg.addEventListener("mouseleave", () => { S.hover = null; $("tooltip").hidden = true; });
  new ResizeObserver(() => renderTopology()).observe(svg);
}

function pulse(peer) {
  const edge = document.querySelector(`#topology line[data-edge="${CSS.escape(peer)}"]`);
  const node = document.querySelector(`#topology g.node[data-peer="${CSS.escape(peer)}"]`);
  for (const el of [edge, node]) {
    if (!el) continue;
    el.classList.add(el === edge ? "pulse" : "flash");
    setTimeout(() => el.classList.remove("pulse", "flash"), 1400);
  }
}

// ------------------------------------------------------------------ task feed
function itemFromAnswer(entry) {
  const p = entry.provenance || {};
  const attempts = Array.isArray(p.attempts) ? p.attempts : [];
  return {
    key: `a${entry.id}`, kind: "answer", at: entry.at, dir: "out", mode: p.mode || entry.mode,
    asked: Array.isArray(p.asked) ? p.asked : attempts.map((a) => a.peer_id),
    failed: new Set(attempts.filter((a) => a.outcome && a.outcome !== "ok").map((a) => a.peer_id)),
    answeredBy: p.answered_by, model: p.model, confidence: p.confidence,
    latency: num(p.latency_ms) !== null ? p.latency_ms : entry.latency_ms,
    cost: p.cost, escalated: !!p.escalated, status: entry.status, entry,
  };
}

function itemFromTask(row) {
  return {
    key: `t${row.id}`, kind: "task", at: row.created_at, dir: row.direction, mode: row.mode,
    asked: row.direction === "out" && row.peer ? [row.peer] : [], failed: new Set(),
    answeredBy: row.direction === "in" ? S.topology.self : row.peer, from: row.direction === "in" ? row.peer : null,
    model: row.model, confidence: row.confidence, latency: row.latency_ms, cost: row.cost,
    escalated: false, status: row.status, row, history: true,
  };
}

function itemFromServed(ev) {
  return {
    key: `s${ev.id}`, kind: "served", at: ev.at, dir: "in", mode: "serve", asked: [], failed: new Set(),
    answeredBy: S.topology.self, from: ev.peer, model: ev.model, confidence: ev.confidence,
    latency: ev.latency_ms, cost: null, escalated: false, status: ev.outcome, row: ev,
  };
}

function rebuildFeed(answers, tasks) {
  const started = (S.node && S.node.started_at) || 0;
  const items = answers.map(itemFromAnswer);
  for (const row of tasks) {
    if (row.direction === "out" && row.created_at >= started - 1 && answers.length) continue; // kept whole in answers
    items.push(itemFromTask(row));
  }
  items.sort((a, b) => (b.at || 0) - (a.at || 0));
  S.feed = items.slice(0, FEED_LIMIT);
  renderFeed();
}

function addFeedItem(item) {
  if (S.feed.some((i) => i.key === item.key)) return;
  S.feed.unshift(item);
  S.feed.length = Math.min(S.feed.length, FEED_LIMIT);
  renderFeed(item.key);
}

function renderFeed(freshKey) {
  const body = $("feed-body");
  body.replaceChildren(...S.feed.map((it) => {
    const ok = it.status === "ok";
    const tr = h("tr", {
      class: `clickable${it.key === freshKey ? " fresh" : ""}${it.history ? " history" : ""}`,
      "data-kind": it.kind, "data-key": it.key, onclick: () => openDetail(it),
    },
      h("td", { class: "mono", text: fmtTime(it.at) }),
      h("td", {}, h("span", { class: `badge ${it.dir === "in" ? "in" : "out"}`, text: it.dir === "in" ? "served" : "asked" })),
      h("td", { text: it.mode || "" }),
      h("td", {}, it.dir === "in" ? h("span", { class: "sub" }, "from ", peerChip(it.from)) : it.asked.map((p) => peerChip(p, it.failed.has(p)))),
      h("td", {}, ok ? [peerChip(it.answeredBy), " ", h("span", { class: "sub", text: it.model || "" })] : h("span", { class: "badge err", text: it.status || "error" })),
      h("td", { class: "num" }, num(it.confidence) !== null ? confidenceBar(it.confidence) : "–"),
      h("td", { class: "num", text: fmtMs(it.latency) }),
      h("td", { class: "num", text: it.dir === "in" ? "–" : fmtCost(it.cost) }),
      h("td", {}, it.escalated ? h("span", { class: "badge esc", text: "escalated" }) : ""),
    );
    return tr;
  }));
  paintDots(body);
  $("feed-empty").hidden = S.feed.length > 0;
  $("feed-count").textContent = S.feed.length ? `${S.feed.length} recent` : "";
}

function confidenceBar(c) {
  if (c < 0 || c > 1) return h("span", { title: "not a probability (a log-likelihood)", text: c.toFixed(2) });
  const fill = h("span");
  fill.style.width = `${Math.round(Math.max(0, Math.min(1, c)) * 100)}%`;
  return h("span", { title: c.toFixed(3) }, h("span", { class: "bar" }, fill), ` ${c.toFixed(2)}`);
}

// ------------------------------------------------------------------ detail drawer
function openDetail(it) {
  const body = [];
  if (it.entry) {
    const e = it.entry, p = e.provenance || {};
    $("drawer-title").textContent = `Answer #${e.id}`;
    body.push(h("h3", { text: "question" }), h("div", { class: "answer-text", text: e.question || "" }));
    body.push(h("h3", { text: e.status === "ok" ? "answer" : "error" }), h("div", { class: "answer-text", text: e.status === "ok" ? e.text : e.error }));
    body.push(h("h3", { text: "summary" }), kvList([
      ["mode", p.mode || e.mode], ["answered by", p.answered_by || "–"], ["model", p.model || "–"],
      ["confidence", fmt(p.confidence, 3)], ["latency", fmtMs(p.latency_ms ?? e.latency_ms)], ["cost", fmtCost(p.cost)],
      ["escalated", p.escalated ? "yes" : "no"], ["router", p.router || "–"], ["decision", fmtMs(p.decision_ms)],
      ["reason", p.reason || "–"], ["tokens", `${p.prompt_tokens ?? "?"} in · ${p.completion_tokens ?? "?"} out`],
    ]));
    if (Array.isArray(p.attempts) && p.attempts.length) {
      body.push(h("h3", { text: "attempts" }), miniTable(["peer", "model", "outcome", "latency", "detail"],
        p.attempts.map((a) => [shortIdRaw(a.peer_id), a.model, a.outcome, fmtMs(a.latency_ms), a.detail || ""])));
    }
    if (Array.isArray(p.contributions) && p.contributions.length) {
      body.push(h("h3", { text: "contributions" }), miniTable(["peer", "model", "role", "conf.", "cost"],
        p.contributions.map((c) => [shortIdRaw(c.peer_id), c.model, c.role, fmt(c.confidence, 2), fmtCost(c.cost)])));
    }
    body.push(h("h3", { text: "full provenance" }), h("pre", { text: JSON.stringify(p, null, 2) }));
  } else {
    $("drawer-title").textContent = it.kind === "served" ? "Served task" : "Task (from the node's log)";
    body.push(kvList(Object.entries(it.row || {}).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)])));
    body.push(h("p", { class: "sub", text: "Full provenance is kept in memory for the answers this node gave since it started." }));
  }
  $("drawer-body").replaceChildren(...body);
  $("drawer").hidden = false;
}

function kvList(rows) {
  return h("dl", { class: "kv" }, rows.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v ?? "" })]));
}

function miniTable(head, rows) {
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, head.map((c) => h("th", { text: c })))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", { text: c ?? "" })))))));
}

// ------------------------------------------------------------------ trust panel
function renderTrust() {
  const peers = (S.trust && S.trust.peers) || {};
  const th = (S.trust && S.trust.thresholds) || { ask: 0.12, prior: 0.3 };
  const rows = Object.entries(peers).map(([peer, t]) => ({ peer, t, below: isBelow(t) }));
  rows.sort((a, b) => (b.below - a.below) || ((a.t.score ?? 1) - (b.t.score ?? 1)));
  $("trust-list").replaceChildren(...rows.map(({ peer, t, below }) => {
    const info = nodeInfo(peer);
    const ev = t.evidence || {};
    const dot = h("i", { class: "tier-dot", "data-tier": info ? info.tier : "unknown" });
    return h("div", { class: `trust-row${below ? " below" : ""}`, "data-peer": peer, title: peer },
      h("div", { class: "who" },
        h("span", { class: "mono" }, dot, " ", shortId(peer)),
        h("small", {}, info ? info.model || "?" : "not in view", " ", h("span", { class: `standing ${t.standing || ""}`, text: t.standing || "?" }))),
      sparkline(t.history || [], th),
      h("div", { class: "score" },
        h("strong", { text: num(t.score) !== null ? t.score.toFixed(2) : "n/a" }),
        h("small", { text: ev.total ? `${ev.total} evidence (+${ev.positive ?? 0} −${ev.negative ?? 0})` : "no evidence yet" }),
        h("small", { text: `global ${num(t.global) !== null ? t.global.toFixed(3) : "n/a"}` })));
  }));
  paintDots($("trust-list"));
  const below = rows.filter((r) => r.below).length;
  $("trust-empty").hidden = rows.length > 0;
  const source = S.trust.live_book ? "live reputation book" : "replayed from this node's evidence log";
  $("trust-sub").textContent = rows.length ? `${rows.length} peers · ${below} below threshold ${th.ask} · ${source}` : "";
}

function sparkline(history, th) {
  const W = 200, H = 42, pad = 3;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" });
  const y = (v) => H - pad - v * (H - 2 * pad);
  svg.append(s("line", { class: "prior-line", x1: 0, x2: W, y1: y(th.prior ?? 0.3), y2: y(th.prior ?? 0.3) }));
  svg.append(s("line", { class: "threshold", x1: 0, x2: W, y1: y(th.ask ?? 0.12), y2: y(th.ask ?? 0.12) }));
  let pts = history.filter((p) => Array.isArray(p) && num(p[0]) !== null && num(p[1]) !== null);
  if (pts.length === 1) pts = [[pts[0][0] - 1, pts[0][1]], pts[0]]; // flat line at the current score
  if (pts.length) {
    const t0 = pts[0][0], t1 = pts[pts.length - 1][0];
    const span = Math.max(t1 - t0, 1e-6);
    const xy = pts.map(([t, v], i) => [pts.length === 1 ? W : (span > 1e-3 ? (t - t0) / span : i / (pts.length - 1)) * W, y(v)]);
    const line = xy.map(([a, b], i) => `${i ? "L" : "M"}${a.toFixed(1)},${b.toFixed(1)}`).join("");
    svg.append(s("path", { class: "spark-area", d: `${line}L${W},${H}L${xy[0][0].toFixed(1)},${H}Z` }));
    svg.append(s("path", { class: "spark", d: line }));
  }
  return svg;
}

// ------------------------------------------------------------------ training panel
const METRIC_KEYS = ["val_accuracy", "validation_accuracy", "val_acc", "accuracy", "val_auc", "val_loss", "validation_loss", "loss"];

function renderTraining() {
  const rounds = ((S.training && S.training.rounds) || []).slice().sort((a, b) => (a.created_at || 0) - (b.created_at || 0));
  const metricsOf = (r) => (r.metrics && typeof r.metrics === "object" ? r.metrics : {});
  let key = METRIC_KEYS.find((k) => rounds.some((r) => num(metricsOf(r)[k]) !== null));
  if (!key) {
    for (const r of rounds) { key = Object.keys(metricsOf(r)).find((k) => num(metricsOf(r)[k]) !== null); if (key) break; }
  }
  $("rounds-body").replaceChildren(...rounds.slice().reverse().map((r) => {
    const excluded = Array.isArray(r.excluded) ? r.excluded : [];
    const metrics = Object.entries(metricsOf(r)).filter(([, v]) => num(v) !== null)
      .map(([k, v]) => `${k} ${Math.abs(v) < 10 ? v.toFixed(3) : v.toFixed(1)}`).join(" · ");
    return h("tr", { "data-round": r.round },
      h("td", { class: "mono", text: String(r.run_id || "").slice(0, 10) }),
      h("td", { class: "num", text: r.round ?? "" }),
      h("td", { text: r.role || "" }),
      h("td", { class: "num", text: Array.isArray(r.participants) ? r.participants.length : "?" }),
      h("td", {}, excluded.length ? excluded.map((p) => peerChip(p, true)) : h("span", { class: "sub", text: "none" })),
      h("td", { class: "sub", text: metrics || "–" }),
      h("td", {}, h("span", { class: `badge ${r.adopted ? "ok" : "err"}`, text: r.adopted ? "adopted" : "not adopted" })));
  }));
  paintDots($("rounds-body"));
  $("rounds-empty").hidden = rounds.length > 0;
  $("training-sub").textContent = rounds.length ? `${rounds.length} rounds · chart: ${key || "no numeric metric"}` : "";
  drawTrainingChart(rounds, key);
}

function drawTrainingChart(rounds, key) {
  const svg = $("training-chart");
  const W = svg.clientWidth || 360, H = svg.clientHeight || 170;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const pts = key ? rounds.filter((r) => num((r.metrics || {})[key]) !== null) : [];
  const L = 40, R = 12, T = 14, B = 24;
  const parts = [s("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }), s("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B })];
  svg.classList.toggle("empty-chart", !rounds.length);
  if (!pts.length) {
    parts.push(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle", text: "no validation metric yet" }));
    svg.replaceChildren(...parts);
    return;
  }
  const vals = pts.map((r) => r.metrics[key]);
  let lo = Math.min(...vals), hi = Math.max(...vals);
  if (hi - lo < 1e-9) { lo -= 0.05; hi += 0.05; }
  const x = (i) => L + (pts.length === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (pts.length - 1));
  const y = (v) => H - B - ((v - lo) / (hi - lo)) * (H - T - B);
  parts.push(s("text", { x: L - 6, y: y(hi) + 4, "text-anchor": "end", text: hi.toFixed(3) }));
  parts.push(s("text", { x: L - 6, y: y(lo) + 4, "text-anchor": "end", text: lo.toFixed(3) }));
  parts.push(s("text", { x: W - R, y: H - 6, "text-anchor": "end", text: `${key} per round` }));
  parts.push(s("path", { class: "line", d: pts.map((r, i) => `${i ? "L" : "M"}${x(i)},${y(r.metrics[key])}`).join("") }));
  pts.forEach((r, i) => parts.push(s("circle", { class: r.adopted ? "adopted" : "rejected", cx: x(i), cy: y(r.metrics[key]), r: 4.5 },
    s("title", { text: `round ${r.round}: ${key} ${r.metrics[key]} (${r.adopted ? "adopted" : "not adopted"})` }))));
  svg.replaceChildren(...parts);
}

// ------------------------------------------------------------------ chat
function wireChat() {
  const form = $("chat-form"), input = $("chat-input");
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const question = input.value.trim();
    if (!question) return;
    const mode = $("chat-mode").value || "auto";
    const maxTokens = Math.max(1, Math.min(1024, parseInt($("chat-max-tokens").value, 10) || 64));
    $("chat-empty").hidden = true;
    const log = $("chat-log");
    log.append(h("div", { class: "msg q", text: question }));
    const pending = h("div", { class: "msg a pending", text: `asking the network (mode ${mode})…` });
    log.append(pending);
    log.scrollTop = log.scrollHeight;
    input.value = "";
    $("chat-send").disabled = true;
    try {
      const res = await api("/peermind/ask", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ question, mode, max_tokens: maxTokens }),
      });
      pending.replaceWith(answerBubble(question, res.text, res.provenance || {}, mode));
    } catch (err) {
      pending.className = "msg a err";
      pending.dataset.status = "error";
      pending.textContent = err instanceof AuthNeeded ? "Set the API token, then ask again." : `No answer: ${err.message}`;
    } finally {
      $("chat-send").disabled = false;
      log.scrollTop = log.scrollHeight;
    }
  });
}

function answerBubble(question, text, p, mode) {
  const attempts = Array.isArray(p.attempts) ? p.attempts : [];
  const failed = new Set(attempts.filter((a) => a.outcome && a.outcome !== "ok").map((a) => a.peer_id));
  const asked = Array.isArray(p.asked) ? p.asked : [];
  const entry = { id: "chat", question, text, status: "ok", mode, provenance: p };
  const prov = h("div", { class: "prov" },
    h("div", { class: "row" }, "answered by ", peerChip(p.answered_by), h("b", { text: p.model || "?" }),
      h("span", { text: `mode ${p.mode || mode}` }), p.escalated ? h("span", { class: "badge esc", text: "escalated" }) : null),
    h("div", { class: "row" },
      h("span", {}, "confidence ", num(p.confidence) !== null ? confidenceBar(p.confidence) : "n/a"),
      h("span", { text: `latency ${fmtMs(p.latency_ms)}` }), h("span", { text: `cost ${fmtCost(p.cost)}` })),
    h("div", { class: "row" }, "asked ", asked.length ? asked.map((x) => peerChip(x, failed.has(x))) : "–",
      h("a", { onclick: () => openDetail({ entry }), text: "full provenance →" })));
  const bubble = h("div", { class: "msg a", "data-status": "ok" }, h("div", { class: "answer", text: (text || "").trim() || "(empty answer)" }), prov);
  paintDots(bubble);
  return bubble;
}

// ------------------------------------------------------------------ live stream
function setLive(state, text) {
  $("live").dataset.state = state;
  $("live-text").textContent = text;
}

let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => loadState().catch(() => {}), 800);
}

function onEvent(kind, data) {
  switch (kind) {
    case "hello": break;
    case "task": {
      const item = itemFromAnswer(data);
      addFeedItem(item);
      if (item.answeredBy) pulse(item.answeredBy);
      break;
    }
    case "served": addFeedItem(itemFromServed(data)); if (data.peer) pulse(data.peer); break;
    case "topology": S.topology = data; renderTopology(); break;
    case "trust": if (data && data.peers) { S.trust = data; renderTrust(); renderTopology(); } break;
    case "training": if (data && data.rounds) { S.training = data; renderTraining(); } break;
    case "node": if (data && !data.error) renderNode(data); break;
    case "dropped": refreshSoon(); break;
    default: break; // ad, evidence, round and future kinds: the state sections follow on their own
  }
}

async function followEvents() {
  let backoff = 1000;
  for (;;) {
    const ctrl = new AbortController();
    S.stream = ctrl;
    try {
      const headers = authHeaders(S.lastEventId ? { "Last-Event-ID": String(S.lastEventId) } : {});
      const res = await fetch("/events", { headers, cache: "no-store", signal: ctrl.signal });
      if (res.status === 401) { askForToken(S.token ? "That token was not accepted." : ""); setLive("offline", "token needed"); return; }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      setLive("live", "live");
      backoff = 1000;
      await readStream(res.body.getReader());
    } catch (err) {
      if (ctrl.signal.aborted) return;
    }
    setLive("connecting", "reconnecting");
    await new Promise((r) => setTimeout(r, backoff));
    backoff = Math.min(backoff * 2, 10000);
    try { await loadState(); } catch (err) { if (err instanceof AuthNeeded) return; }
  }
}

async function readStream(reader) {
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
      let kind = "message", id = null;
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (!line || line.startsWith(":")) continue;
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (field === "event") kind = val;
        else if (field === "data") data.push(val);
        else if (field === "id") id = parseInt(val, 10);
      }
      if (!data.length) continue;
      if (Number.isFinite(id)) S.lastEventId = Math.max(S.lastEventId, id);
      try { onEvent(kind, JSON.parse(data.join("\n"))); } catch (err) { console.warn("bad event", kind, err); }
    }
  }
}

function restartStream() {
  if (S.stream) S.stream.abort();
  followEvents();
}

// ------------------------------------------------------------------ start
function wireChrome() {
  $("drawer-close").addEventListener("click", () => { $("drawer").hidden = true; });
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") $("drawer").hidden = true; });
  $("token-button").addEventListener("click", () => askForToken(""));
  $("token-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    S.token = $("token-input").value.trim();
    sessionStorage.setItem(TOKEN_KEY, S.token);
    $("token-modal").hidden = true;
    try { await loadState(); restartStream(); } catch (_) { /* the modal is back up */ }
  });
  window.addEventListener("resize", () => renderTraining());
}

async function start() {
  wireChrome();
  wireTopology();
  wireChat();
  setInterval(tickUptime, 1000);
  try {
    await loadState();
  } catch (err) {
    if (err instanceof AuthNeeded) { setLive("offline", "token needed"); return; }
    setLive("offline", "node unreachable");
  }
  followEvents();
}

document.addEventListener("DOMContentLoaded", start);
