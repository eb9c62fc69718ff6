// View 3 — Parameter sharing: because every step uses the same W, the gradient of the loss
// with respect to W is the sum over steps of each step's contribution. Each band shows those
// contributions (the top-left 8×8 corner of each), their norms, and their sum.

import {
  clear, debounce, diverging, el, fmt, fmtInt, glyph, labelled, LatestRequest, MATRIX_COLOURS,
  maxAbs, setState, statusLine, svg, viewHeader,
} from "./common.js";

const LEFT = 128; // label column
const CELL = 5; // one matrix entry of a step's block
const TOTAL_CELL = 7; // one entry of the summed block
const PITCH = 60; // horizontal distance between steps
const BAND_H = 146;

export function mount(section, defaults) {
  const state = { data: null, selected: null };

  viewHeader(section, "Parameter sharing", [
    "The unrolled network uses the same W_xh, W_hh and W_hy at every step, so the gradient of " +
      "the loss with respect to each matrix is a sum over steps: ∂L/∂W = Σₜ ∂L/∂W|ₜ. Each " +
      "band shows every step's contribution (an 8×8 corner of the matrix; for W_xh the columns, " +
      "for W_hy the rows, of the characters in the text), its norm, and the sum — which is " +
      "exactly the gradient backpropagation through time returns.",
    "Sharing is also why the parameter count does not grow with the length of the text; " +
      "untied weights would need a separate copy per step.",
  ]);

  const status = statusLine(section);
  const request = new LatestRequest("weight-sharing", status);
  const input = el("input", { type: "text", class: "text-input", maxlength: 64,
    value: defaults.text ?? "to be or not", spellcheck: "false", "aria-label": "input text",
    "data-role": "text" });
  section.append(el("div", { class: "controls" }, [labelled("Input text", input),
    status.node]));
  const cards = el("div", { class: "cards" });
  const figure = el("div", { class: "figure scroll-x" });
  const detail = el("p", { class: "detail muted" });
  section.append(cards, figure, detail);

  const refresh = debounce(async () => {
    const data = await request.run({ text: input.value });
    if (data) {
      state.data = data;
      draw();
    }
  }, 250);
  input.addEventListener("input", refresh);

  function steps(data) {
    return data.matrices[0].step_norms.length; // T predictions for T + 1 characters
  }

  function drawCards(data) {
    const T = steps(data);
    const ratio = data.params_untied / Math.max(1, data.params_shared);
    const shared = el("div", { class: "meter-fill shared" });
    const untied = el("div", { class: "meter-fill untied" });
    shared.style.width = `${Math.max(0.5, 100 / Math.max(ratio, 1)).toFixed(2)}%`;
    untied.style.width = "100%";
    const worst = Math.max(...data.matrices.map((m) => Math.abs(m.sum_check)));
    clear(cards);
    cards.append(
      el("div", { class: "card" }, [
        el("div", { class: "card-label", text: "loss over the text" }),
        el("div", { class: "card-value", text: `${fmt(data.loss, 4)} nats` }),
        el("div", { class: "muted small", text: `next-character cross-entropy summed over ` +
          `${T} steps` }),
      ]),
      el("div", { class: "card wide" }, [
        el("div", { class: "card-label", text: `parameters at length T = ${T}` }),
        el("div", { class: "meter" }, [el("span", { class: "meter-name", text: "shared" }),
          el("div", { class: "meter-track" }, shared),
          el("b", { class: "meter-num", text: fmtInt(data.params_shared) })]),
        el("div", { class: "meter" }, [el("span", { class: "meter-name", text: "untied" }),
          el("div", { class: "meter-track" }, untied),
          el("b", { class: "meter-num", text: fmtInt(data.params_untied) })]),
        el("div", { class: "muted small", text: `untied weights: ${fmt(ratio, 3)}× as many, ` +
          "and no way to read a text longer than the ones seen in training" }),
      ]),
      el("div", { class: "card" }, [
        el("div", { class: "card-label", text: "sum of steps − BPTT gradient" }),
        el("div", { class: `card-value ${worst < 1e-4 ? "good" : "bad"}`, text: fmt(worst, 2) }),
        el("div", { class: "muted small", text: "largest ‖Σₜ contribution − ∂L/∂W‖ of the " +
          "three matrices" }),
      ]),
    );
    setState(section, { steps: T, paramsShared: data.params_shared,
      paramsUntied: data.params_untied, loss: data.loss, sumCheck: worst,
      text: data.tokens.join("") });
  }

  function band(root, m, index, tokens) {
    const y0 = index * BAND_H + 16;
    const T = m.step_norms.length;
    const blocks = [...m.preview_steps.flat(2), ...m.preview_total.flat()];
    const scale = Math.max(1e-12, maxAbs(blocks));
    const rows = m.preview_total.length;
    const cols = m.preview_total[0]?.length ?? rows;
    const g = svg("g", { class: "ws-band", "data-matrix": m.name });
    g.append(
      svg("rect", { x: 4, y: y0 + 2, width: 6, height: 40, rx: 3,
        fill: MATRIX_COLOURS[m.name] }),
      svg("text", { x: 18, y: y0 + 16, class: "band-title", text: `∂L/∂${m.name}` }),
      svg("text", { x: 18, y: y0 + 32, class: "axis-text", text: `${m.shape[0]}×${m.shape[1]} ` +
        "shared" }),
      svg("text", { x: 18, y: y0 + 104, class: "axis-text", text: "‖contribution‖" }),
    );
    const norms = m.step_norms;
    const normMax = Math.max(1e-12, ...norms, m.total_norm);
    m.preview_steps.forEach((block, t) => {
      const x = LEFT + t * PITCH;
      const cell = svg("g", { class: "ws-step", "data-t": t });
      cell.append(svg("rect", { x: x - 6, y: y0 - 6, width: 52, height: 142, class: "hit" }));
      block.forEach((row, i) => row.forEach((v, j) => {
        cell.append(svg("rect", { x: x + j * CELL, y: y0 + i * CELL, width: CELL - 0.4,
          height: CELL - 0.4, fill: diverging(v, scale) }));
      }));
      cell.append(svg("rect", { x: x - 2, y: y0 - 2, width: cols * CELL + 3,
        height: rows * CELL + 3, class: "block-frame" }));
      // the norm of this step's contribution, as a bar under the block
      const bh = 38 * (norms[t] / normMax);
      cell.append(
        svg("rect", { x: x + 4, y: y0 + 116 - bh, width: 32, height: Math.max(bh, 0.5),
          class: "norm-bar", fill: MATRIX_COLOURS[m.name] }),
        svg("text", { x: x + 20, y: y0 + 130, class: "axis-text middle",
          text: fmt(norms[t], 2) }),
        svg("text", { x: x + 20, y: y0 + 54, class: "mono-text middle",
          text: `${glyph(tokens[t])}→${glyph(tokens[t + 1] ?? "")}` }),
        svg("title", { text: `${m.name}, step ${t} (${JSON.stringify(tokens[t])} predicts ` +
          `${JSON.stringify(tokens[t + 1])}): ` +
          `‖contribution‖ = ${fmt(norms[t], 4)}` }),
      );
      g.append(cell);
      const signX = x + 40 + (PITCH - 40) / 2;
      g.append(svg("text", { x: signX, y: y0 + 25, class: "op-sign",
        text: t < T - 1 ? "+" : "=" }));
    });
    // the sum: the gradient of the shared matrix
    const x = LEFT + T * PITCH + 6;
    const total = svg("g", { class: "ws-total" });
    m.preview_total.forEach((row, i) => row.forEach((v, j) => {
      total.append(svg("rect", { x: x + j * TOTAL_CELL, y: y0 - 4 + i * TOTAL_CELL,
        width: TOTAL_CELL - 0.4, height: TOTAL_CELL - 0.4, fill: diverging(v, scale) }));
    }));
    const bh = 38 * (m.total_norm / normMax);
    total.append(
      svg("rect", { x: x - 3, y: y0 - 7, width: cols * TOTAL_CELL + 5,
        height: rows * TOTAL_CELL + 5, class: "block-frame total" }),
      svg("rect", { x: x + 8, y: y0 + 116 - bh, width: 40,
        height: Math.max(bh, 0.5), class: "norm-bar total", fill: MATRIX_COLOURS[m.name] }),
      svg("text", { x: x + 28, y: y0 + 130, class: "axis-text middle strong",
        text: fmt(m.total_norm, 3) }),
      svg("text", { x: x + 28, y: y0 + 66, class: "axis-text middle",
        text: `Σ = ∂L/∂${m.name}` }),
      svg("text", { x: x + 8 * TOTAL_CELL + 14, y: y0 + 30, class: "axis-text",
        text: `check ${fmt(m.sum_check, 2)}` }),
    );
    g.append(total);
    root.append(g);
  }

  function draw() {
    const data = state.data;
    drawCards(data);
    const T = steps(data);
    const width = LEFT + T * PITCH + 200;
    const height = data.matrices.length * BAND_H + 6;
    clear(figure);
    const root = svg("svg", { class: "ws-svg", width, height, viewBox: `0 0 ${width} ${height}`,
      role: "img", "aria-label": "per-step gradient contributions" });
    data.matrices.forEach((m, i) => band(root, m, i, data.tokens));
    figure.append(root);
    section.dataset.ready = "true";
    select(state.selected !== null && state.selected < T ? state.selected : null);
  }

  function select(t) {
    state.selected = t;
    for (const node of figure.querySelectorAll(".ws-step")) {
      node.classList.toggle("selected", t !== null && Number(node.dataset.t) === t);
    }
    figure.classList.toggle("has-selection", t !== null);
    section.dataset.selectedStep = t === null ? "" : String(t);
    const data = state.data;
    if (t === null) {
      detail.textContent = "Hover a step to compare its contributions to the three matrices.";
      return;
    }
    const parts = data.matrices.map((m) => `${m.name}: ${fmt(m.step_norms[t], 3)} of ` +
      `${fmt(m.total_norm, 3)}`);
    detail.textContent = `step ${t} (reads ${JSON.stringify(data.tokens[t])}, predicts ` +
      `${JSON.stringify(data.tokens[t + 1])}) — ‖contribution‖ ` +
      parts.join(" · ");
  }

  figure.addEventListener("mouseover", (event) => {
    const step = event.target.closest(".ws-step");
    if (step) select(Number(step.dataset.t));
  });
  figure.addEventListener("mouseleave", () => select(null));

  setState(section, { steps: 0 });
  request.run({ text: input.value }).then((data) => {
    if (data) {
      state.data = data;
      draw();
    }
  });
  return { show() {}, hide() {} };
}
