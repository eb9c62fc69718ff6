// View 1 — Unrolling: the compact cell with its loop unfolds into one copy per character.
// The three matrices are the same objects at every step: hover one and every copy lights up.

import {
  barsSvg, button, clear, debounce, el, fmt, glyph, labelled, LatestRequest, MATRIX_COLOURS,
  maxAbs, pct, setState, statusLine, svg, Ticker, viewHeader, diverging,
} from "./common.js";

const COL = 112; // width of one time step
const H_BOX = 60; // side of the hidden-state box
const CHAIN_X0 = 330; // x of the initial state h₋₁
const Y = { out: 18, outH: 92, h: 150, x: 268, xH: 34 }; // rows of the drawing
const HEIGHT = 330;
const COMPACT_CX = 110;

export function mount(section, defaults) {
  const state = { data: null, highlight: "none", inspect: null };
  const ticker = new Ticker();

  viewHeader(section, "Unrolling a recurrent network", [
    "A recurrent network is one cell applied again and again: " +
      "hₜ = tanh(W_xh xₜ + W_hh hₜ₋₁ + b), yₜ = softmax(W_hy hₜ + b_y). " +
      "Unrolling it in time draws one copy of the cell per character. The copies are not " +
      "new weights: all of them use the same three matrices.",
    "Type a text; hover a matrix (on the drawing or in the legend) to light up every place it " +
      "is used; hover a hidden state to read its numbers.",
  ]);

  const status = statusLine(section);
  const request = new LatestRequest("unroll", status);
  const input = el("input", { type: "text", class: "text-input", maxlength: 64,
    value: defaults.text ?? "hello", spellcheck: "false", "aria-label": "input text",
    "data-role": "text" });
  const replay = button("↻ Unroll again", () => state.data && draw(true), { "data-role": "replay" });
  section.append(el("div", { class: "controls" }, [labelled("Input text", input), replay,
    status.node]));

  const legend = el("div", { class: "legend matrix-legend" });
  const figure = el("div", { class: "figure scroll-x" });
  const inspector = el("div", { class: "inspector" });
  section.append(legend, figure, inspector);

  const refresh = debounce(async () => {
    const data = await request.run({ text: input.value });
    if (data) {
      state.data = data;
      draw(true);
    }
  }, 250);
  input.addEventListener("input", refresh);

  // -- drawing ----------------------------------------------------------------------------------

  function chip(name, cx, cy, copy) {
    const g = svg("g", { class: "chip", "data-matrix": name, "data-copy": copy ? "1" : null,
      tabindex: copy ? null : "0" });
    g.append(
      svg("rect", { x: cx - 22, y: cy - 9, width: 44, height: 18, rx: 5,
        fill: MATRIX_COLOURS[name] }),
      svg("text", { x: cx, y: cy + 4, class: "chip-text", text: name }),
    );
    return g;
  }

  function arrow(x1, y1, x2, y2, name) {
    return svg("line", { x1, y1, x2, y2, class: "wire", "data-wire": name,
      "marker-end": "url(#u-head)" });
  }

  function hiddenBox(cx, h, scale, t) {
    const g = svg("g", { class: "hbox", "data-t": t });
    const n = h.length;
    const cols = Math.ceil(Math.sqrt(n));
    const rows = Math.ceil(n / cols);
    const cell = H_BOX / Math.max(cols, rows);
    g.append(svg("rect", { x: cx - H_BOX / 2 - 3, y: Y.h - 3, width: H_BOX + 6, height: H_BOX + 6,
      rx: 6, class: "hbox-frame" }));
    h.forEach((v, i) => {
      g.append(svg("rect", {
        x: cx - H_BOX / 2 + (i % cols) * cell, y: Y.h + Math.floor(i / cols) * cell,
        width: cell - 0.6, height: cell - 0.6, fill: diverging(v, scale),
      }));
    });
    return g;
  }

  function compactCell(root, hiddenSize) {
    const cx = COMPACT_CX;
    const g = svg("g", { class: "compact" });
    const hMid = Y.h + H_BOX / 2;
    g.append(
      svg("text", { x: cx, y: 12, class: "caption", text: "the cell" }),
      svg("rect", { x: cx - 40, y: Y.out + 20, width: 80, height: 44, rx: 8, class: "io-box" }),
      svg("text", { x: cx, y: Y.out + 47, class: "io-text", text: "yₜ" }),
      arrow(cx, Y.h - 4, cx, Y.out + 66, "W_hy"),
      chip("W_hy", cx, (Y.h + Y.out + 64) / 2, false),
      svg("rect", { x: cx - H_BOX / 2 - 3, y: Y.h - 3, width: H_BOX + 6, height: H_BOX + 6,
        rx: 6, class: "hbox-frame compact-h" }),
      svg("text", { x: cx, y: hMid - 2, class: "io-text", text: "h" }),
      svg("text", { x: cx, y: hMid + 14, class: "small-text", text: `${hiddenSize} units` }),
      // the loop: out of the right side of h and back into it
      svg("path", { d: `M ${cx + H_BOX / 2 + 3} ${hMid - 14} C ${cx + 95} ${hMid - 60}, ` +
        `${cx + 95} ${hMid + 60}, ${cx + H_BOX / 2 + 5} ${hMid + 14}`, class: "wire loop",
        "data-wire": "W_hh", "marker-end": "url(#u-head)" }),
      chip("W_hh", cx + 72, hMid, false),
      svg("rect", { x: cx - 22, y: Y.x, width: 44, height: Y.xH, rx: 6, class: "io-box" }),
      svg("text", { x: cx, y: Y.x + 22, class: "io-text", text: "xₜ" }),
      arrow(cx, Y.x - 2, cx, Y.h + H_BOX + 6, "W_xh"),
      chip("W_xh", cx, (Y.x + Y.h + H_BOX) / 2, false),
    );
    root.append(g);
    root.append(
      svg("text", { x: 258, y: Y.h + H_BOX / 2 - 10, class: "caption", text: "unroll" }),
      svg("line", { x1: 224, y1: Y.h + H_BOX / 2, x2: 290, y2: Y.h + H_BOX / 2,
        class: "wire unroll-arrow", "marker-end": "url(#u-head)" }),
    );
  }

  function stepGroup(step, scale) {
    const t = step.t;
    const cx = CHAIN_X0 + COL * (t + 1);
    const g = svg("g", { class: "u-step", "data-t": t });
    const hMid = Y.h + H_BOX / 2;
    // output: the top-5 next characters
    const out = svg("g", { class: "out-box" });
    out.append(svg("rect", { x: cx - 46, y: Y.out, width: 92, height: Y.outH, rx: 8,
      class: "io-box" }));
    step.top.slice(0, 5).forEach((entry, k) => {
      const y = Y.out + 8 + k * 16;
      out.append(
        svg("text", { x: cx - 38, y: y + 10, class: "mono-text", text: glyph(entry.char) }),
        svg("rect", { x: cx - 27, y: y + 3, width: 36, height: 9, rx: 2, class: "ptrack" }),
        svg("rect", { x: cx - 27, y: y + 3, width: Math.max(1, 36 * entry.p), height: 9,
          rx: 2, class: k === 0 ? "pbar top" : "pbar" }),
        svg("text", { x: cx + 40, y: y + 11, class: "tiny-text end", text: pct(entry.p) }),
      );
    });
    out.append(svg("title", { text: "most likely next characters: " + step.top.map((e) =>
      `${JSON.stringify(e.char)} ${pct(e.p)}`).join(", ") }));
    g.append(out);
    g.append(arrow(cx, Y.h - 4, cx, Y.out + Y.outH + 2, "W_hy"));
    g.append(chip("W_hy", cx, (Y.h + Y.out + Y.outH) / 2, true));
    // the recurrent wire from h_{t-1}
    g.append(arrow(cx - COL + H_BOX / 2 + 4, hMid, cx - H_BOX / 2 - 6, hMid, "W_hh"));
    g.append(chip("W_hh", cx - COL / 2, hMid, true));
    g.append(hiddenBox(cx, step.h, scale, t));
    // input character
    g.append(arrow(cx, Y.x - 2, cx, Y.h + H_BOX + 6, "W_xh"));
    g.append(chip("W_xh", cx, (Y.x + Y.h + H_BOX) / 2 + 2, true));
    g.append(
      svg("rect", { x: cx - 20, y: Y.x, width: 40, height: Y.xH, rx: 6, class: "io-box in" }),
      svg("text", { x: cx, y: Y.x + 23, class: "mono-text big", text: glyph(step.token) }),
      svg("text", { x: cx, y: Y.x + Y.xH + 16, class: "small-text", text: `t = ${t}` }),
    );
    return g;
  }

  function draw(animate) {
    const data = state.data;
    ticker.stop();
    clear(figure);
    const T = data.steps.length;
    const width = CHAIN_X0 + COL * (T + 1) + 24;
    const root = svg("svg", { class: "unroll-svg", width, height: HEIGHT,
      viewBox: `0 0 ${width} ${HEIGHT}`, role: "img",
      "aria-label": `the network unrolled over ${T} steps` });
    root.append(svg("defs", {}, svg("marker", { id: "u-head", viewBox: "0 0 10 10", refX: 9,
      refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
    svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }))));
    compactCell(root, data.hidden_size);
    // the initial state h₋₁ = 0
    root.append(
      svg("rect", { x: CHAIN_X0 - 20, y: Y.h + H_BOX / 2 - 20, width: 40, height: 40, rx: 6,
        class: "io-box zero-state" }),
      svg("text", { x: CHAIN_X0, y: Y.h + H_BOX / 2 - 2, class: "small-text", text: "h₋₁" }),
      svg("text", { x: CHAIN_X0, y: Y.h + H_BOX / 2 + 12, class: "small-text", text: "= 0" }),
    );
    const scale = Math.max(1e-6, maxAbs(data.steps.flatMap((s) => s.h)));
    const groups = data.steps.map((step) => stepGroup(step, scale));
    for (const g of groups) root.append(g);
    figure.append(root);
    drawLegend(data);
    setState(section, { text: data.tokens.join(""), steps: T, hiddenSize: data.hidden_size,
      vocabSize: data.vocab_size });
    applyHighlight(state.highlight);
    inspect(T - 1);
    section.dataset.ready = "true";

    if (!animate || window.matchMedia("(prefers-reduced-motion: reduce)").matches) {
      setState(section, { step: T, animating: "false" });
      return;
    }
    // Unfold: every copy starts inside the compact cell and slides out to its place.
    groups.forEach((g, t) => {
      const dx = COMPACT_CX - (CHAIN_X0 + COL * (t + 1));
      g.style.transform = `translate(${dx}px, 0px) scale(1)`;
      g.style.opacity = "0";
    });
    setState(section, { step: 0, animating: "true" });
    figure.scrollLeft = 0;
    let landed = 0;
    requestAnimationFrame(() => {
      ticker.every(110, () => {
        const g = groups[landed];
        g.style.transform = "translate(0px, 0px)";
        g.style.opacity = "1";
        landed += 1;
        section.dataset.step = String(landed);
        const cx = CHAIN_X0 + COL * landed;
        if (cx > figure.scrollLeft + figure.clientWidth - COL) {
          figure.scrollLeft = cx - figure.clientWidth + 2 * COL;
        }
        if (landed >= groups.length) {
          setTimeout(() => {  // when the last copy has slid into place
            if (!ticker.running) section.dataset.animating = "false";
          }, 650);
          return false;
        }
        return true;
      });
    });
  }

  function drawLegend(data) {
    clear(legend);
    for (const m of data.matrices) {
      const item = el("div", { class: "legend-item", "data-matrix": m.name, tabindex: "0" }, [
        el("span", { class: `swatch swatch-${m.name}` }),
        el("b", { text: m.name }),
        el("span", { class: "muted", text: ` ${m.shape[0]}×${m.shape[1]}, ‖W‖ = ${fmt(m.norm)}` }),
        el("span", { class: "lit-count", text: "" }),
      ]);
      legend.append(item);
    }
  }

  // -- interaction --------------------------------------------------------------------------

  function applyHighlight(name) {
    state.highlight = name;
    const lit = name !== "none";
    section.classList.toggle("has-highlight", lit);
    let copies = 0;
    for (const node of section.querySelectorAll("[data-matrix], [data-wire]")) {
      const on = lit && (node.dataset.matrix === name || node.dataset.wire === name);
      node.classList.toggle("lit", on);
      if (on && node.dataset.copy === "1") copies += 1;
    }
    for (const item of legend.querySelectorAll(".legend-item")) {
      const count = item.querySelector(".lit-count");
      count.textContent = item.dataset.matrix === name ? ` · used at ${copies} steps` : "";
    }
    setState(section, { highlight: name, litCount: copies });
  }

  function inspect(t) {
    const data = state.data;
    if (!data || t < 0 || t >= data.steps.length) return;
    state.inspect = t;
    const step = data.steps[t];
    const scale = Math.max(1e-6, maxAbs(step.h));
    clear(inspector);
    inspector.append(
      el("h3", {}, [`Step t = ${t}: input `, el("code", { text: glyph(step.token) })]),
      el("div", { class: "inspector-row" }, [
        el("div", {}, [
          el("div", { class: "muted small", text: `hₜ (${step.h.length} units, max |h| = ` +
            `${fmt(scale)})` }),
          barsSvg(step.h, { width: Math.min(520, 16 * step.h.length), height: 70, scale: 1 }),
        ]),
        el("div", {}, [
          el("div", { class: "muted small", text: "most likely next characters" }),
          el("ol", { class: "toplist" }, step.top.map((e) => el("li", {}, [
            el("code", { text: glyph(e.char) }), ` ${pct(e.p)}`]))),
        ]),
      ]),
    );
    section.dataset.inspect = String(t);
  }

  section.addEventListener("mouseover", (event) => {
    const target = event.target.closest("[data-matrix]");
    if (target) applyHighlight(target.dataset.matrix);
    const box = event.target.closest(".hbox");
    if (box) inspect(Number(box.dataset.t));
  });
  section.addEventListener("mouseout", (event) => {
    const from = event.target.closest("[data-matrix]");
    const to = event.relatedTarget?.closest?.("[data-matrix]");
    if (from && (!to || to.dataset.matrix !== from.dataset.matrix)) applyHighlight("none");
  });
  section.addEventListener("focusin", (event) => {
    const target = event.target.closest("[data-matrix]");
    if (target) applyHighlight(target.dataset.matrix);
  });
  section.addEventListener("focusout", () => applyHighlight("none"));

  setState(section, { highlight: "none", litCount: 0, step: 0, steps: 0 });
  request.run({ text: input.value }).then((data) => {
    if (data) {
      state.data = data;
      draw(true);
    }
  });

  return {
    show() {},
    hide() {
      if (ticker.running && state.data) {
        ticker.stop();
        draw(false);
      }
    },
  };
}
