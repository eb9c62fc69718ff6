// Shared helpers for the explorer's views: DOM and SVG builders, the API client, colour scales,
// number formatting and timers. No model math lives here: every number is computed by the server.

const SVG_NS = "http://www.w3.org/2000/svg";

function applyAttrs(node, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.setAttribute("class", value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else node.setAttribute(key, value === true ? "" : String(value));
  }
  return node;
}

function appendChildren(node, children) {
  for (const child of [].concat(children ?? [])) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An HTML element: el("div", {class: "x", onclick: fn}, [children]). */
export function el(tag, attrs, children) {
  return appendChildren(applyAttrs(document.createElement(tag), attrs), children);
}

/** An SVG element, same calling convention as el(). */
export function svg(tag, attrs, children) {
  return appendChildren(applyAttrs(document.createElementNS(SVG_NS, tag), attrs), children);
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/** Write state into data-* attributes (the tests read these, not pixels). */
export function setState(node, values) {
  for (const [key, value] of Object.entries(values)) {
    node.dataset[key] = value === null || value === undefined ? "" : String(value);
  }
}

// -- the API --------------------------------------------------------------------------------

export class ApiError extends Error {}

/** POST the parameters of one view; resolves to its data dict or throws ApiError. */
export async function fetchView(view, params, signal) {
  let response;
  try {
    response = await fetch(`/api/view/${encodeURIComponent(view)}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(params),
      signal,
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError("the explorer server is not answering (is `rnnlab explore` running?)");
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    throw new ApiError(`the server answered ${response.status} without JSON`);
  }
  if (!response.ok) throw new ApiError(payload?.error || `HTTP ${response.status}`);
  return payload;
}

/**
 * Keeps only the latest request of a view alive: older answers are dropped, so a slow reply
 * to an earlier keystroke never overwrites a newer one.
 */
export class LatestRequest {
  constructor(view, status) {
    this.view = view;
    this.status = status;
    this.controller = null;
  }

  async run(params) {
    if (this.controller) this.controller.abort();
    const controller = new AbortController();
    this.controller = controller;
    this.status.busy();
    try {
      const data = await fetchView(this.view, params, controller.signal);
      if (controller.signal.aborted) return null;
      this.status.ok();
      return data;
    } catch (err) {
      if (err.name === "AbortError") return null;
      this.status.error(err.message);
      return null;
    } finally {
      if (this.controller === controller) this.controller = null;
    }
  }
}

/** A small status line per view: "computing…", or the server's error message. */
export function statusLine(section) {
  const node = el("p", { class: "status", role: "status", "aria-live": "polite" });
  let timer = null;
  return {
    node,
    busy() {
      clearTimeout(timer);
      timer = setTimeout(() => {
        node.textContent = "computing…";
        node.dataset.state = "busy";
      }, 150);
    },
    ok() {
      clearTimeout(timer);
      node.textContent = "";
      node.dataset.state = "ok";
      section.dataset.error = "";
    },
    error(message) {
      clearTimeout(timer);
      node.textContent = message;
      node.dataset.state = "error";
      section.dataset.error = message;
    },
  };
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// -- page scaffolding -------------------------------------------------------------------------

/** Heading, explanation and a controls row, shared by every view. */
export function viewHeader(section, title, paragraphs) {
  const head = el("header", { class: "view-head" }, [
    el("h2", { text: title }),
    ...paragraphs.map((p) => el("p", { class: "lede" }, p)),
  ]);
  section.append(head);
  return head;
}

export function labelled(text, control, extra) {
  return el("label", { class: "field" }, [el("span", { class: "field-label", text }), control,
    extra ?? null]);
}

export function button(text, onclick, attrs = {}) {
  return el("button", { type: "button", class: "btn", onclick, ...attrs }, text);
}

// -- colours ----------------------------------------------------------------------------------

const NEG = [44, 98, 168];
const MID = [247, 246, 242];
const POS = [204, 85, 30];

function mix(a, b, t) {
  return a.map((v, i) => Math.round(v + (b[i] - v) * t));
}

/** Diverging colour for v in [-maxAbs, maxAbs]: blue below zero, orange above. */
export function diverging(v, maxAbs = 1) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "rgb(200,200,200)";
  const t = Math.max(-1, Math.min(1, maxAbs > 0 ? v / maxAbs : 0));
  const c = t < 0 ? mix(MID, NEG, Math.sqrt(-t)) : mix(MID, POS, Math.sqrt(t));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** Text colour readable on top of diverging(v, maxAbs). */
export function inkOn(v, maxAbs = 1) {
  return Math.abs(v) / (maxAbs || 1) > 0.55 ? "#fff" : "#1d232b";
}

export const MATRIX_COLOURS = { W_xh: "#2f7d6d", W_hh: "#8a4fb3", W_hy: "#c0622b" };
export const CELL_COLOURS = { rnn: "#d1495b", lstm: "#2e6fb7", gru: "#3a9a5b" };

export function maxAbs(values) {
  let m = 0;
  for (const v of values) if (Number.isFinite(v) && Math.abs(v) > m) m = Math.abs(v);
  return m;
}

// -- numbers and characters -------------------------------------------------------------------

/** Short, readable numbers: 0.123, -1.57, 3.2e-7, 12,345. */
export function fmt(x, digits = 3) {
  if (x === null || x === undefined) return "—";
  if (!Number.isFinite(x)) return x > 0 ? "∞" : x < 0 ? "−∞" : "NaN";
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(Math.max(0, digits - 2)).replace("-", "−");
  const s = a >= 100 ? x.toFixed(0) : x.toPrecision(digits);
  return String(Number(s)).replace("-", "−");
}

export function fmtInt(n) {
  return Number(n).toLocaleString("en-US");
}

export function pct(p) {
  if (p === null || p === undefined || !Number.isFinite(p)) return "—";
  const v = 100 * p;
  return `${v >= 10 && v <= 99.5 ? v.toFixed(0) : v.toFixed(1)}%`;
}

/** A visible glyph for characters that would otherwise vanish (space, newline, tab). */
export function glyph(ch) {
  if (ch === " ") return "␣";
  if (ch === "\n") return "⏎";
  if (ch === "\t") return "⇥";
  return ch;
}

// -- timing ------------------------------------------------------------------------------------

/** Cancel-able sequence of timed callbacks (animations that stop when a view hides). */
export class Ticker {
  constructor() {
    this.timer = null;
  }

  every(ms, fn) {
    this.stop();
    const tick = () => {
      if (fn() === false) {
        this.timer = null;
        return;
      }
      this.timer = setTimeout(tick, ms);
    };
    this.timer = setTimeout(tick, ms);
  }

  get running() {
    return this.timer !== null;
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * Vertical bars around a zero line, one per value (e.g. the units of h_t), as an SVG element.
 * Options: width, height, scale (the |value| that fills half the height), gap, className.
 */
export function barsSvg(values, { width = 240, height = 80, scale = 1, gap = 1, className = "bars" } = {}) {
  const n = Math.max(values.length, 1);
  const bw = width / n;
  const mid = height / 2;
  const root = svg("svg", { class: className, width, height, viewBox: `0 0 ${width} ${height}`,
    role: "img" });
  root.append(svg("line", { x1: 0, x2: width, y1: mid, y2: mid, class: "zero" }));
  values.forEach((v, i) => {
    const h = Number.isFinite(v) ? Math.min(1, Math.abs(v) / (scale || 1)) * (mid - 1) : 0;
    root.append(svg("rect", {
      x: (i * bw + gap / 2).toFixed(2), width: Math.max(0.5, bw - gap).toFixed(2),
      y: (v >= 0 ? mid - h : mid).toFixed(2), height: Math.max(h, 0.5).toFixed(2),
      class: v >= 0 ? "bar pos" : "bar neg",
    }, svg("title", { text: `unit ${i}: ${fmt(v, 4)}` })));
  });
  return root;
}
