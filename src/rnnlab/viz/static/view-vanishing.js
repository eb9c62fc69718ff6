// View 5 — Vanishing (and exploding) gradients: ‖∂L_T/∂h_t‖ against t for a SimpleRNN, an LSTM
// and a GRU, for a loss on the last output only, computed by the layers' own backward passes.
// The curves are revealed from t = T−1 backwards, the direction the gradient travels.

import {
  button, CELL_COLOURS, clear, debounce, el, fmt, labelled, LatestRequest, setState,
  statusLine, svg, viewHeader,
} from "./common.js";

const W = 1040;
const H = 420;
const M = { left: 70, right: 200, top: 18, bottom: 46 };
const SWEEP_MS = 1300;
const CELL_NAMES = { rnn: "SimpleRNN", lstm: "LSTM", gru: "GRU" };

export function mount(section, defaults) {
  const state = { main: null, other: null, frame: null };

  viewHeader(section, "Vanishing and exploding gradients", [
    "Backpropagation through time multiplies the gradient by one Jacobian per step: " +
      "∂L_T/∂hₜ = ∂L_T/∂h_T · ∏ ∂h_k/∂h_k₋₁. For a SimpleRNN each factor is " +
      "diag(tanh′)·W_hh, so the norm shrinks (or grows) roughly like ρ(W_hh) per step — " +
      "ρ is the spectral radius. The LSTM's cell state and the GRU's update gate give the " +
      "gradient an additive path that decays far more slowly.",
    "W_hh is scaled to the spectral radius ρ you choose: an orthogonal matrix (every " +
      "direction scaled alike) or a random Gaussian one. Drag ρ above 1 to make the " +
      "SimpleRNN's gradients explode; clipping caps each step's gradient norm. The y axis is " +
      "logarithmic; solid lines use the chosen initialisation, dashed ones the other.",
  ]);

  const status = statusLine(section);
  const request = new LatestRequest("vanishing-gradients", status);
  const otherStatus = { busy() {}, ok() {}, error() {} };
  const otherRequest = new LatestRequest("vanishing-gradients", otherStatus);

  const cellBoxes = ["rnn", "lstm", "gru"].map((name) => {
    const box = el("input", { type: "checkbox", value: name, checked: true,
      "data-role": `cell-${name}` });
    return { name, box, label: el("label", { class: "check" }, [box,
      el("span", { class: `swatch cell-${name}` }), CELL_NAMES[name]]) };
  });
  const initRadios = ["orthogonal", "random"].map((name) => {
    const radio = el("input", { type: "radio", name: "vg-init", value: name,
      checked: name === (defaults.init ?? "orthogonal") ? true : null, "data-role": `init-${name}` });
    return { name, radio, label: el("label", { class: "check" }, [radio, name]) };
  });
  const radius = el("input", { type: "range", min: 0.1, max: 3, step: 0.05,
    value: defaults.spectral_radius ?? 1, "aria-label": "spectral radius",
    "data-role": "spectral-radius" });
  const radiusValue = el("output", { class: "value", text: fmt(Number(radius.value), 3) });
  const length = el("input", { type: "range", min: 5, max: 200, step: 1,
    value: defaults.length ?? 50, "aria-label": "length", "data-role": "length" });
  const lengthValue = el("output", { class: "value", text: length.value });
  const clipOn = el("input", { type: "checkbox", "data-role": "clip-on",
    checked: defaults.clip ? true : null });
  const clipValue = el("input", { type: "number", min: 0.01, step: 0.1,
    value: defaults.clip ?? 1, class: "num-input", "aria-label": "clip norm",
    "data-role": "clip" });
  const compare = el("input", { type: "checkbox", checked: true, "data-role": "compare" });
  const replay = button("↻ Replay", () => state.main && startSweep(), { "data-role": "replay" });

  section.append(
    el("div", { class: "controls" }, [
      el("fieldset", { class: "group" }, [el("legend", { text: "cells" }),
        ...cellBoxes.map((c) => c.label)]),
      el("fieldset", { class: "group" }, [el("legend", { text: "W_hh initialisation" }),
        ...initRadios.map((r) => r.label)]),
      labelled("Spectral radius ρ", radius, radiusValue),
      labelled("Length T", length, lengthValue),
      el("fieldset", { class: "group" }, [el("legend", { text: "gradient clipping" }),
        el("label", { class: "check" }, [clipOn, "clip at"]), clipValue]),
      el("label", { class: "check" }, [compare, "also show the other init (dashed)"]),
      replay,
      status.node,
    ]),
  );
  const figure = el("div", { class: "figure" });
  const table = el("table", { class: "readout" });
  section.append(el("div", { class: "panel" }, [figure]), table);

  function params(init) {
    return {
      cells: cellBoxes.filter((c) => c.box.checked).map((c) => c.name),
      init,
      clip: clipOn.checked ? Number(clipValue.value) : null,
      spectral_radius: Number(radius.value),
      length: Number(length.value),
    };
  }

  function currentInit() {
    return initRadios.find((r) => r.radio.checked)?.name ?? "orthogonal";
  }

  async function load() {
    const init = currentInit();
    const other = init === "random" ? "orthogonal" : "random";
    const p = params(init);
    const [main, second] = await Promise.all([
      request.run(p),
      compare.checked ? otherRequest.run(params(other)) : Promise.resolve(null),
    ]);
    if (!main) return;
    state.main = main;
    state.other = compare.checked ? second : null;
    state.clip = p.clip;
    draw();
    section.dataset.ready = "true";
    startSweep();
  }
  const reload = debounce(load, 180);
  radius.addEventListener("input", () => {
    radiusValue.textContent = fmt(Number(radius.value), 3);
    reload();
  });
  length.addEventListener("input", () => {
    lengthValue.textContent = length.value;
    reload();
  });
  for (const node of [...cellBoxes.map((c) => c.box), ...initRadios.map((r) => r.radio),
    clipOn, compare]) node.addEventListener("change", reload);
  clipValue.addEventListener("input", () => clipOn.checked && reload());

  // -- drawing ----------------------------------------------------------------------------------

  function draw() {
    const data = state.main;
    const T = data.length;
    const all = [...data.series, ...(state.other?.series ?? [])];
    const positive = all.flatMap((s) => s.norms).filter((v) => Number.isFinite(v) && v > 0);
    let lo = Math.floor(Math.log10(Math.min(...positive, 1)));
    let hi = Math.ceil(Math.log10(Math.max(...positive, 1)));
    if (hi - lo < 2) {
      lo -= 1;
      hi += 1;
    }
    const px = (t) => M.left + (t / Math.max(1, T - 1)) * (W - M.left - M.right);
    const py = (v) => {
      const l = v === null || v === undefined ? hi : v <= 0 ? lo : Math.log10(v);
      return M.top + (1 - (Math.min(hi, Math.max(lo, l)) - lo) / (hi - lo)) * (H - M.top - M.bottom);
    };
    clear(figure);
    const root = svg("svg", { class: "vg-svg", width: W, height: H, viewBox: `0 0 ${W} ${H}`,
      role: "img", "aria-label": "gradient norm against time step" });
    const clipId = "vg-reveal";
    const reveal = svg("rect", { x: px(T - 1), y: 0, width: W, height: H });
    root.append(svg("defs", {}, svg("clipPath", { id: clipId }, reveal)));
    // axes and decade grid
    const every = Math.max(1, Math.ceil((hi - lo) / 10));
    for (let d = lo; d <= hi; d += every) {
      const y = py(10 ** d);
      root.append(
        svg("line", { x1: M.left, x2: W - M.right, y1: y, y2: y, class: d === 0 ? "grid one" :
          "grid" }),
        svg("text", { x: M.left - 8, y: y + 4, class: "axis-text end", text: `1e${d}` }),
      );
    }
    const tickEvery = T <= 20 ? 1 : T <= 60 ? 5 : T <= 120 ? 10 : 20;
    for (let t = 0; t < T; t += tickEvery) {
      root.append(svg("text", { x: px(t), y: H - M.bottom + 16, class: "axis-text middle",
        text: String(t) }));
    }
    root.append(
      svg("text", { x: px(T - 1), y: H - M.bottom + 16, class: "axis-text middle strong",
        text: `T−1 = ${T - 1}` }),
      svg("text", { x: (M.left + W - M.right) / 2, y: H - 8, class: "axis-text middle",
        text: "time step t (the loss is at the last step; gradients flow right to left)" }),
      svg("text", { x: 14, y: (M.top + H - M.bottom) / 2, class: "axis-text middle",
        transform: `rotate(-90 14 ${(M.top + H - M.bottom) / 2})`, text: "‖∂L_T/∂hₜ‖" }),
      svg("line", { x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom, class: "axis" }),
      svg("line", { x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom,
        class: "axis" }),
    );
    if (state.clip) {
      root.append(svg("line", { x1: M.left, x2: W - M.right, y1: py(state.clip),
        y2: py(state.clip), class: "clip-line" }), svg("text", { x: W - M.right - 4,
        y: py(state.clip) - 5, class: "axis-text end", text: `clip = ${fmt(state.clip)}` }));
    }
    const curves = svg("g", { "clip-path": `url(#${clipId})` });
    const legend = svg("g", { class: "vg-legend" });
    const series = [...(state.other?.series ?? []).map((s) => ({ ...s, dashed: true })),
      ...data.series.map((s) => ({ ...s, dashed: false }))];
    let row = 0;
    for (const s of series) {
      const colour = CELL_COLOURS[s.cell] ?? "#555";
      const points = s.norms.map((v, t) => `${px(t).toFixed(1)},${py(v).toFixed(1)}`)
        .reverse().join(" ");
      curves.append(svg("polyline", { points, class: s.dashed ? "series dashed" : "series",
        stroke: colour, "data-cell": s.cell, "data-init": s.init }));
      const ly = M.top + 14 + row * 20;
      row += 1;
      legend.append(
        svg("line", { x1: W - M.right + 12, x2: W - M.right + 36, y1: ly - 4, y2: ly - 4,
          stroke: colour, class: s.dashed ? "series dashed" : "series" }),
        svg("text", { x: W - M.right + 42, y: ly, class: "axis-text",
          text: `${CELL_NAMES[s.cell] ?? s.cell}, ${s.init}` }),
      );
    }
    const sweep = svg("line", { x1: px(T - 1), x2: px(T - 1), y1: M.top, y2: H - M.bottom,
      class: "sweep" });
    root.append(curves, legend, sweep);
    figure.append(root);
    state.frame = { px, reveal, sweep, T };
    drawTable();
    const signature = data.series.map((s) => `${s.cell}:${s.norms[0]}`).join(",");
    setState(section, { spectralRadius: data.spectral_radius, init: currentInit(),
      clip: state.clip ?? "none", length: T, cells: data.series.map((s) => s.cell).join(","),
      signature });
  }

  function drawTable() {
    const data = state.main;
    const T = data.length;
    clear(table);
    table.append(el("thead", {}, el("tr", {}, ["cell", "init", `‖∂L/∂h_${T - 1}‖`,
      "‖∂L/∂h₀‖", "ratio", ""].map((h) => el("th", { text: h })))));
    const body = el("tbody");
    for (const s of [...data.series, ...(state.other?.series ?? [])]) {
      const last = s.norms[T - 1];
      const first = s.norms[0];
      const ratio = last && first !== null ? first / last : null;
      let verdict = "stable";
      if (first === null || ratio === null || ratio > 1e3) verdict = "explodes";
      else if (ratio < 1e-3) verdict = "vanishes";
      else if (ratio < 0.1) verdict = "decays";
      else if (ratio > 10) verdict = "grows";
      body.append(el("tr", { "data-cell": s.cell, "data-init": s.init }, [
        el("td", {}, [el("span", { class: `swatch cell-${s.cell}` }), CELL_NAMES[s.cell] ?? s.cell]),
        el("td", { text: s.init }),
        el("td", { text: fmt(last, 3) }),
        el("td", { text: fmt(first, 3) }),
        el("td", { text: fmt(ratio, 3) }),
        el("td", {}, el("span", { class: `tag ${verdict}`, text: verdict })),
      ]));
    }
    table.append(body);
  }

  function startSweep() {
    const { px, reveal, sweep, T } = state.frame;
    cancelAnimationFrame(state.raf);
    const started = performance.now();
    section.dataset.animating = "true";
    const frame = (now) => {
      const f = Math.min(1, (now - started) / SWEEP_MS);
      const t = Math.round((T - 1) * (1 - f));
      const x = px((T - 1) * (1 - f));
      reveal.setAttribute("x", x - 2);
      sweep.setAttribute("x1", x);
      sweep.setAttribute("x2", x);
      section.dataset.step = String(t);
      if (f < 1) state.raf = requestAnimationFrame(frame);
      else {
        sweep.classList.add("done");
        section.dataset.animating = "false";
      }
    };
    state.raf = requestAnimationFrame(frame);
  }

  setState(section, { init: currentInit(), spectralRadius: radius.value });
  load();
  return {
    show() {},
    hide() {
      cancelAnimationFrame(state.raf);
      if (state.frame) {
        state.frame.reveal.setAttribute("x", 0);
        section.dataset.animating = "false";
      }
    },
  };
}
