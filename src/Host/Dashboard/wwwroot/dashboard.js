// The live web view's script: loads graphs, silos, batches and rates from /api, draws each DAG in SVG, and follows /api/events.
"use strict";

const svgNs = "http://www.w3.org/2000/svg";
const view = { silos: [], active: [], stamps: "", rates: [], graphs: new Map(), opTimes: {}, samples: 0 };
const layer = { dx: 150, dy: 44, w: 118, h: 32, pad: 16 };

const el = (tag, attrs = {}, text) => {
  const e = tag.startsWith("svg:") ? document.createElementNS(svgNs, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};
// "S127.0.0.1:11111:155241674" (Orleans' form: address, port, generation) as people read it.
const short = address => (address || "?").replace(/^S/, "").replace(/:\d+$/, "");
const clock = time => new Date(time).toLocaleTimeString([], { hour12: false });
const getJson = async url => {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return r.json();
};

// A silo's colour: its place in partition order picks a hue; the lightness carries measured time.
const hue = address => {
  const i = view.active.indexOf(address);
  return i < 0 ? null : (210 + i * 137.5) % 360;
};
const siloColour = (address, lightness = 62) => {
  const h = hue(address);
  return h === null ? `hsl(0, 0%, ${lightness + 15}%)` : `hsl(${h}, 62%, ${lightness}%)`;
};

function renderSilos() {
  const body = document.querySelector("#silos tbody");
  body.replaceChildren(...view.silos.map(s => {
    const row = el("tr", { "data-status": s.status, "data-silo": s.address });
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = s.status === "Active" ? siloColour(s.address) : "transparent";
    const first = el("td");
    first.append(swatch);
    row.append(first, el("td", { title: s.address }, short(s.address)), el("td", {}, s.name), el("td", {}, s.host), el("td", {}, s.status),
      el("td", {}, clock(s.started)));
    return row;
  }));
}

function renderRate() {
  const svg = document.getElementById("rate");
  const points = view.rates.slice(-120);
  const top = Math.max(1, ...points.map(p => p.perSecond)) * 1.1;
  const xy = points.map((p, i) => `${(i / 119) * 600},${80 - (p.perSecond / top) * 78}`);
  svg.replaceChildren();
  if (xy.length > 1) {
    svg.append(el("svg:polygon", { points: `${xy.join(" ")} ${((points.length - 1) / 119) * 600},80 0,80` }),
      el("svg:polyline", { points: xy.join(" ") }));
  }
  const now = points.length ? points[points.length - 1].perSecond : 0;
  document.getElementById("rate-now").textContent = now >= 100 ? now.toFixed(0) : now.toFixed(1);
}

function renderBatches(batches) {
  const box = document.getElementById("batches");
  if (!batches.length) {
    box.replaceChildren(el("p", { class: "quiet" }, "none"));
    return;
  }
  box.replaceChildren(...batches.map(b => {
    const share = b.total ? b.completed / b.total : 1;
    const item = el("div", { class: "batch", "data-batch": b.batch, "data-graph": b.graphId });
    const label = el("div", { class: "label" });
    label.append(el("span", {}, `${b.graphId} v${b.version}`),
      el("span", { class: "quiet" }, `${b.completed} / ${b.total} · ${b.inFlight} in flight${b.failed ? ` · ${b.failed} failed` : ""}${b.reruns ? ` · ${b.reruns} re-run` : ""} · on ${short(b.silo)}`));
    const bar = el("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(b.total), "aria-valuenow": String(b.completed),
      "aria-label": `batch of ${b.graphId}` });
    const done = el("div", { class: "done" });
    done.style.width = `${(share * 100).toFixed(1)}%`;
    if (b.failed) {
      const failed = el("div", { class: "failed" });
      failed.style.width = `${((b.failed / b.total) * 100).toFixed(1)}%`;
      bar.append(failed);
    }
    bar.append(done);
    item.append(label, bar);
    return item;
  }));
}

// Mean forward + backward time of a node's op, in ms, if this silo has measured it.
const opTime = op => {
  const t = view.opTimes[op];
  return t && t.steps > 0 ? t.forwardMs + t.backwardMs : null;
};

function shade(g) {
  const times = g.nodes.map(n => opTime(n.op)).filter(t => t !== null);
  const slowest = times.length ? Math.max(...times) : 0;
  for (const n of g.nodes) {
    const rect = g.rects.get(n.id);
    if (!rect) continue;
    const t = opTime(n.op);
    // Slower ops darker: 80% lightness for the fastest down to 38% for the slowest.
    rect.setAttribute("fill", siloColour(n.silo, t === null || slowest === 0 ? 66 : 80 - 42 * (t / slowest)));
    rect.parentNode.querySelector("title").textContent =
      `${n.id}: ${n.op} [${n.shape.join("×")}] · partition ${n.partition} on ${short(n.silo)}` + (t === null ? "" : ` · ${t.toFixed(3)} ms per step`);
  }
}

function drawGraph(g) {
  const card = el("div", { class: "graph", "data-graph": g.id, "data-version": String(g.version) });
  card.append(el("h3", {}, `${g.id} v${g.version}`));
  const legend = el("div", { class: "legend" });
  legend.append(el("span", {}, `${g.nodeCount} nodes · ${g.partitions} partition${g.partitions === 1 ? "" : "s"} · output ${g.output}`));
  g.silos.forEach(s => {
    const item = el("span");
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = siloColour(s);
    item.append(swatch, ` ${short(s)}`);
    legend.append(item);
  });
  legend.append(el("span", {}, "darker: slower op (when measured)"));
  card.append(legend);
  if (!g.drawn) {
    card.append(el("p", { class: "quiet" }, `too large to draw here (${g.nodeCount} nodes)`));
    return card;
  }
  const depth = Math.max(0, ...g.nodes.map(n => n.depth));
  const rows = Math.max(1, ...g.nodes.map(n => n.order + 1));
  const width = (depth + 1) * layer.dx + layer.pad, height = rows * layer.dy + layer.pad;
  const svg = el("svg:svg", { class: "dag", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `DAG of ${g.id}` });
  const x = n => layer.pad + n.depth * layer.dx, y = n => layer.pad + n.order * layer.dy;
  const edges = el("svg:g", { class: "edges" });
  g.nodes.forEach(n => n.ancestors.forEach(a => {
    const from = g.nodes[a];
    const x1 = x(from) + layer.w, y1 = y(from) + layer.h / 2, x2 = x(n), y2 = y(n) + layer.h / 2, mid = (x1 + x2) / 2;
    edges.append(el("svg:path", { class: "edge", d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, "data-from": from.id, "data-to": n.id }));
  }));
  svg.append(edges);
  g.rects = new Map();
  for (const n of g.nodes) {
    const node = el("svg:g", { class: `node${n.id === g.output ? " output" : ""}`, "data-node": n.id, "data-silo": n.silo, transform: `translate(${x(n)},${y(n)})` });
    const rect = el("svg:rect", { width: layer.w, height: layer.h, rx: 5 });
    node.append(el("svg:title"), rect,
      el("svg:text", { x: 6, y: 13 }, n.id.length > 17 ? `${n.id.slice(0, 16)}…` : n.id),
      el("svg:text", { x: 6, y: 26, class: "op" }, `${n.op} ${n.shape.length ? n.shape.join("×") : "scalar"}`));
    g.rects.set(n.id, rect);
    svg.append(node);
  }
  const scroll = el("div", { class: "scroll" });
  scroll.append(svg);
  card.append(scroll);
  shade(g);
  return card;
}

async function loadGraphs() {
  const list = await getJson("/api/graphs");
  const views = await Promise.all(list.map(g => getJson(`/api/graphs/${encodeURIComponent(g.id)}`).catch(() => null)));
  view.graphs = new Map(views.filter(v => v).map(v => [v.id, v]));
  const box = document.getElementById("graphs");
  box.replaceChildren(...(view.graphs.size ? [...view.graphs.values()].map(drawGraph) : [el("p", { class: "quiet" }, "none deployed")]));
}

function apply(sample) {
  view.samples++;
  const counter = document.getElementById("samples");
  counter.textContent = String(view.samples);
  counter.dataset.count = String(view.samples);
  document.getElementById("updated").textContent = clock(sample.time);
  document.getElementById("completed").textContent = String(sample.completed);
  const activeBefore = view.active.join();
  view.silos = sample.silos;
  view.active = sample.silos.filter(s => s.status === "Active").sort((a, b) => a.index - b.index).map(s => s.address);
  renderSilos();
  view.rates.push({ time: sample.time, perSecond: sample.perSecond });
  if (view.rates.length > 120) view.rates.shift();
  renderRate();
  renderBatches(sample.batches);
  view.opTimes = sample.opTimes || {};
  const stamps = sample.graphs.join("|");
  if (stamps !== view.stamps || view.active.join() !== activeBefore) {
    view.stamps = stamps;
    loadGraphs().catch(e => console.error(e));
  } else {
    for (const g of view.graphs.values()) if (g.drawn) shade(g);
  }
}

function follow() {
  const connection = document.getElementById("connection");
  const events = new EventSource("/api/events");
  events.addEventListener("open", () => { connection.dataset.state = "live"; connection.textContent = "live"; });
  events.addEventListener("error", () => { connection.dataset.state = "lost"; connection.textContent = "reconnecting…"; });
  events.addEventListener("sample", e => apply(JSON.parse(e.data)));
}

async function start() {
  try {
    const [silos, rates, batches] = await Promise.all([getJson("/api/silos"), getJson("/api/rate"), getJson("/api/batches")]);
    view.silos = silos;
    view.active = silos.filter(s => s.status === "Active").sort((a, b) => a.index - b.index).map(s => s.address);
    view.rates = rates;
    renderSilos();
    renderRate();
    renderBatches(batches);
    await loadGraphs();
  } catch (e) {
    console.error(e);
  }
  follow();
}

start();
