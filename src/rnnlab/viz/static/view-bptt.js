// View 6 — Backpropagation through time, step by step, on a tiny SimpleRNN whose numbers can be
// read: the forward pass stores every hₜ; the backward pass walks from the last step to the
// first, where ∂L/∂hₜ (from the output and from the future) becomes δₜ = ∂L/∂hₜ ⊙ (1 − hₜ²),
// which splits into the W_xh path (δₜ xₜᵀ) and the W_hh path (δₜ hₜ₋₁ᵀ); both accumulate
// into the one shared copy of each matrix.

import {
  button, clear, debounce, diverging, el, fmt, glyph, inkOn, labelled, LatestRequest,
  MATRIX_COLOURS, maxAbs, setState, statusLine, svg, Ticker, viewHeader,
} from "./common.js";

const LEFT = 96; // row labels
const SUB = 50; // width of one number column (h, ∂L/∂h, δ)
const GAP = 40; // between time steps
const COL = 3 * SUB + GAP;
const ROW = 19;
const Y_LOSS = 26;
const Y_TABLE = 96;
const PLAY_MS = 900;

export function mount(section, defaults) {
  const state = { data: null, frame: 0, playing: false, nodes: null };
  const ticker = new Ticker();

  viewHeader(section, "Backpropagation through time", [
    "A tiny SimpleRNN, small enough to read every number. Forward: each hₜ = tanh(W_xh xₜ + " +
      "W_hh hₜ₋₁ + b) is computed and stored, with the loss Lₜ of predicting the next " +
      "character. Backward, from the last step to the first: ∂L/∂hₜ collects the gradient from " +
      "this step's output and from the future (W_hhᵀ δₜ₊₁); δₜ = ∂L/∂hₜ ⊙ (1 − hₜ²) then " +
      "splits into the W_xh path (δₜ xₜᵀ) and the W_hh path (δₜ hₜ₋₁ᵀ). Both add into the " +
      "single shared copy of each matrix.",
  ]);

  const status = statusLine(section);
  const request = new LatestRequest("bptt-flow", status);
  const input = el("input", { type: "text", class: "text-input", maxlength: 12,
    value: defaults.text ?? "hello", spellcheck: "false", "aria-label": "input text",
    "data-role": "text" });
  const back = button("‹ Back", () => {
    setPlaying(false);
    goTo(state.frame - 1);
  }, { "data-role": "back" });
  const step = button("Step ›", () => {
    setPlaying(false);
    goTo(state.frame + 1);
  }, { "data-role": "step" });
  const play = button("▶ Play", () => setPlaying(true), { "data-role": "play" });
  const pause = button("❚❚ Pause", () => setPlaying(false), { "data-role": "pause" });
  const restart = button("↺ Restart", () => {
    setPlaying(false);
    goTo(0);
  }, { "data-role": "restart" });
  section.append(el("div", { class: "controls" }, [labelled("Input text (2–12 characters)", input),
    el("div", { class: "btn-group" }, [back, step, play, pause, restart]), status.node]));

  const phaseBar = el("div", { class: "phase-bar" });
  const figure = el("div", { class: "figure scroll-x" });
  const narration = el("p", { class: "narration" });
  const final = el("div", { class: "final" });
  section.append(phaseBar, el("div", { class: "panel" }, [figure, narration]), final);

  const refresh = debounce(async () => {
    const data = await request.run({ text: input.value });
    if (data) show(data);
  }, 250);
  input.addEventListener("input", refresh);

  function show(data) {
    state.data = data;
    setPlaying(false);
    draw();
    section.dataset.ready = "true";
    goTo(0);
  }

  // -- playback ---------------------------------------------------------------------------------

  const frames = () => 2 * state.data.forward.length;

  function setPlaying(on) {
    if (on && state.data && state.frame >= frames() - 1) goTo(0);
    state.playing = on && Boolean(state.data);
    section.dataset.playing = String(state.playing);
    play.disabled = state.playing;
    pause.disabled = !state.playing;
    if (!state.playing) {
      ticker.stop();
      return;
    }
    ticker.every(PLAY_MS, () => {
      goTo(state.frame + 1);
      if (state.frame >= frames() - 1) {
        setPlaying(false);
        return false;
      }
      return true;
    });
  }

  // -- drawing ----------------------------------------------------------------------------------

  function colX(t) {
    return LEFT + t * COL;
  }

  function numberCell(parent, x, y, kind, t, k) {
    const g = svg("g", { class: `num ${kind}`, "data-kind": kind, "data-t": t, "data-k": k });
    g.append(svg("rect", { x, y, width: SUB - 3, height: ROW - 2, rx: 3 }),
      svg("text", { x: x + SUB - 7, y: y + ROW - 6, class: "num-text end", text: "" }));
    parent.append(g);
    return g;
  }

  function draw() {
    const data = state.data;
    const T = data.forward.length;
    const H = data.hidden_size;
    const tableBottom = Y_TABLE + 18 + H * ROW;
    const yX = tableBottom + 26;
    const yRailXh = yX + 78;
    const yRailHh = yRailXh + 52;
    const accX = colX(T) + 10;
    const width = accX + 230;
    const height = yRailHh + 40;
    const g = { loss: [], cells: [], contribXh: [], contribHh: [], fwdWires: [], backWires: [],
      splits: [] };
    clear(figure);
    const root = svg("svg", { class: "bptt-svg", width, height, viewBox: `0 0 ${width} ${height}`,
      role: "img", "aria-label": "forward and backward pass, step by step" });
    root.append(svg("defs", {},
      ["fwd", "bwd"].map((kind) => svg("marker", { id: `b-head-${kind}`, viewBox: "0 0 10 10",
        refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto-start-reverse" },
      svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: `arrowhead ${kind}` })))));
    // row labels
    root.append(
      svg("text", { x: 8, y: Y_LOSS + 20, class: "axis-text", text: "loss Lₜ" }),
      svg("text", { x: 8, y: Y_TABLE + 12, class: "axis-text", text: "per unit" }),
      svg("text", { x: 8, y: yX + 20, class: "axis-text", text: "input xₜ" }),
      svg("text", { x: 8, y: yRailXh + 4, class: "axis-text strong", text: "→ ∂L/∂W_xh" }),
      svg("text", { x: 8, y: yRailHh + 4, class: "axis-text strong", text: "→ ∂L/∂W_hh" }),
      svg("line", { x1: LEFT - 10, x2: accX, y1: yRailXh, y2: yRailXh, class: "rail",
        stroke: MATRIX_COLOURS.W_xh }),
      svg("line", { x1: LEFT - 10, x2: accX, y1: yRailHh, y2: yRailHh, class: "rail",
        stroke: MATRIX_COLOURS.W_hh }),
    );
    for (let t = 0; t < T; t += 1) {
      const x = colX(t);
      const cx = x + SUB / 2;
      const col = svg("g", { class: "b-col", "data-t": t });
      // loss box
      const loss = svg("g", { class: "loss-box" });
      loss.append(svg("rect", { x, y: Y_LOSS, width: 3 * SUB - 3, height: 28, rx: 6 }),
        svg("text", { x: x + 8, y: Y_LOSS + 19, class: "num-text", text: "" }));
      g.loss.push(loss);
      col.append(loss);
      // up-wire h -> loss (forward), and the gradient coming down (backward)
      col.append(svg("line", { x1: cx, y1: Y_TABLE - 2, x2: cx, y2: Y_LOSS + 31,
        class: "wire fwd", "data-t": t, "marker-end": "url(#b-head-fwd)" }));
      col.append(svg("line", { x1: x + SUB + SUB / 2, y1: Y_LOSS + 31, x2: x + SUB + SUB / 2,
        y2: Y_TABLE - 2, class: "wire bwd", "data-t": t, "marker-end": "url(#b-head-bwd)" }));
      // table header
      ["hₜ", "∂L/∂hₜ", "δₜ"].forEach((name, j) => {
        col.append(svg("text", { x: x + j * SUB + (SUB - 3) / 2, y: Y_TABLE + 12,
          class: `col-head ${j === 0 ? "fwd" : "bwd"}`, text: name }));
      });
      const cells = { h: [], dh: [], delta: [] };
      for (let k = 0; k < H; k += 1) {
        const y = Y_TABLE + 18 + k * ROW;
        cells.h.push(numberCell(col, x, y, "h", t, k));
        cells.dh.push(numberCell(col, x + SUB, y, "dh", t, k));
        cells.delta.push(numberCell(col, x + 2 * SUB, y, "delta", t, k));
      }
      g.cells.push(cells);
      // recurrent wires between steps: forward h_{t-1} -> h_t, backward δ_{t+1} -> ∂L/∂h_t
      const midY = (Y_TABLE + 18 + tableBottom) / 2;
      if (t > 0) {
        col.append(svg("line", { x1: x - GAP + 4, y1: midY - 8, x2: x - 4, y2: midY - 8,
          class: "wire fwd", "marker-end": "url(#b-head-fwd)" }));
      }
      if (t < T - 1) {
        col.append(svg("line", { x1: x + 3 * SUB + GAP - 6, y1: midY + 8, x2: x + 3 * SUB + 2,
          y2: midY + 8, class: "wire bwd recur", "data-t": t, "marker-end": "url(#b-head-bwd)" }),
        svg("text", { x: x + 3 * SUB + GAP / 2 - 2, y: midY + 24, class: "tiny-text middle bwd",
          text: "W_hhᵀ" }));
      }
      // input character
      col.append(
        svg("line", { x1: cx, y1: yX - 2, x2: cx, y2: tableBottom + 3, class: "wire fwd",
          "marker-end": "url(#b-head-fwd)" }),
        svg("rect", { x: cx - 17, y: yX, width: 34, height: 30, rx: 6, class: "io-box in" }),
        svg("text", { x: cx, y: yX + 21, class: "mono-text big", text: glyph(data.tokens[t]) }),
        svg("text", { x: cx, y: yX + 46, class: "small-text", text: `t = ${t}` }),
      );
      // the split: δ_t feeds both rails
      const dx = x + 2 * SUB + SUB / 2;
      const split = svg("g", { class: "split-wires", "data-t": t });
      split.append(
        svg("path", { d: `M ${dx} ${tableBottom + 2} L ${dx} ${yRailXh - 12}`, class: "wire bwd",
          "marker-end": "url(#b-head-bwd)" }),
        svg("path", { d: `M ${dx + 6} ${tableBottom + 2} L ${dx + 6} ${yRailHh - 12}`,
          class: "wire bwd", "marker-end": "url(#b-head-bwd)" }),
      );
      col.append(split);
      g.splits.push(split);
      const contrib = (y, name) => {
        const node = svg("g", { class: "contrib", "data-matrix": name });
        node.append(svg("rect", { x: x + SUB + 4, y: y - 11, width: 2 * SUB - 10, height: 22,
          rx: 11, fill: MATRIX_COLOURS[name] }),
        svg("text", { x: x + 2 * SUB - 1, y: y + 4, class: "chip-text", text: "" }));
        col.append(node);
        return node;
      };
      g.contribXh.push(contrib(yRailXh, "W_xh"));
      g.contribHh.push(contrib(yRailHh, "W_hh"));
      root.append(col);
    }
    // the accumulators: one shared matrix each
    const acc = (y, name) => {
      const node = svg("g", { class: "accum", "data-matrix": name });
      node.append(
        svg("rect", { x: accX, y: y - 20, width: 210, height: 40, rx: 8, class: "accum-box",
          stroke: MATRIX_COLOURS[name] }),
        svg("rect", { x: accX + 8, y: y + 8, width: 0, height: 6, rx: 3, class: "accum-fill",
          fill: MATRIX_COLOURS[name] }),
        svg("text", { x: accX + 10, y: y + 2, class: "accum-text", text: `${name}: 0` }),
      );
      root.append(node);
      return node;
    };
    g.accXh = acc(yRailXh, "W_xh");
    g.accHh = acc(yRailHh, "W_hh");
    figure.append(root);
    const hs = data.forward.flatMap((f) => f.h);
    const ds = data.backward.flatMap((b) => [...b.dh, ...b.delta]);
    state.nodes = g;
    state.scales = { h: Math.max(1e-9, maxAbs(hs)), d: Math.max(1e-12, maxAbs(ds)) };
    state.accMax = Math.max(1e-12, data.final.dW_xh_norm, data.final.dW_hh_norm,
      ...data.backward.map((b) => Math.max(b.dW_xh_accum_norm, b.dW_hh_accum_norm)));
    setState(section, { frames: 2 * T, tokens: data.tokens.join(""), hiddenSize: H });
  }

  function paint(cell, value, scale, visible) {
    const rect = cell.firstChild;
    const text = cell.lastChild;
    if (!visible) {
      rect.setAttribute("fill", "none");
      text.textContent = "";
      cell.classList.add("empty");
      return;
    }
    cell.classList.remove("empty");
    rect.setAttribute("fill", diverging(value, scale));
    text.setAttribute("fill", inkOn(value, scale));
    text.textContent = cellNumber(value);
  }

  function cellNumber(v) {  // fits a cell: −0.073, 0.008, 12.3
    if (!Number.isFinite(v)) return fmt(v);
    const s = Math.abs(v) < 10 ? v.toFixed(3) : v.toPrecision(3);
    return s.replace("-", "−");
  }

  function goTo(frame) {
    const data = state.data;
    if (!data) return;
    const T = data.forward.length;
    frame = Math.max(0, Math.min(2 * T - 1, frame));
    state.frame = frame;
    const phase = frame < T ? "forward" : "backward";
    const t = phase === "forward" ? frame : 2 * T - 1 - frame;
    const g = state.nodes;
    const backIndex = (s) => data.backward.findIndex((b) => b.t === s);
    // which steps are done in each pass
    const forwardDone = (s) => phase === "backward" || s <= t;
    const backwardDone = (s) => phase === "backward" && s >= t;
    for (let s = 0; s < T; s += 1) {
      const f = data.forward[s];
      const bi = backIndex(s);
      const b = data.backward[bi];
      const fwd = forwardDone(s);
      const bwd = backwardDone(s);
      const lossText = g.loss[s].lastChild;
      lossText.textContent = fwd ? `L${sub(s)} = ${fmt(f.loss, 3)}  →${glyph(f.target ?? "")}`
        : "";
      g.loss[s].classList.toggle("empty", !fwd);
      for (let k = 0; k < data.hidden_size; k += 1) {
        paint(g.cells[s].h[k], f.h[k], state.scales.h, fwd);
        paint(g.cells[s].dh[k], b.dh[k], state.scales.d, bwd);
        paint(g.cells[s].delta[k], b.delta[k], state.scales.d, bwd);
      }
      g.contribXh[s].lastChild.textContent = bwd ? fmt(b.dW_xh_step_norm, 3) : "";
      g.contribHh[s].lastChild.textContent = bwd ? fmt(b.dW_hh_step_norm, 3) : "";
      g.contribXh[s].classList.toggle("empty", !bwd);
      g.contribHh[s].classList.toggle("empty", !bwd);
      g.splits[s].classList.toggle("on", phase === "backward" && s === t);
    }
    for (const col of figure.querySelectorAll(".b-col")) {
      const s = Number(col.dataset.t);
      col.classList.toggle("current", s === t);
      col.classList.toggle("fwd-phase", phase === "forward");
      col.classList.toggle("bwd-phase", phase === "backward");
    }
    // accumulators: the running sums up to this backward step
    const cur = phase === "backward" ? data.backward[backIndex(t)] : null;
    const accXh = cur ? cur.dW_xh_accum_norm : 0;
    const accHh = cur ? cur.dW_hh_accum_norm : 0;
    setAccum(g.accXh, "W_xh", accXh);
    setAccum(g.accHh, "W_hh", accHh);
    drawPhaseBar(phase, t, T);
    narrate(phase, t, cur);
    const complete = phase === "backward" && t === 0;
    drawFinal(complete);
    setState(section, { phase, step: t, frame, complete, accumXh: accXh, accumHh: accHh });
  }

  function setAccum(node, name, value) {
    node.querySelector(".accum-text").textContent = `‖∂L/∂${name}‖ so far: ${fmt(value, 4)}`;
    node.querySelector(".accum-fill").setAttribute("width", (194 * value / state.accMax)
      .toFixed(1));
  }

  function sub(n) {
    return String(n).split("").map((d) => "₀₁₂₃₄₅₆₇₈₉"[Number(d)]).join("");
  }

  function drawPhaseBar(phase, t, T) {
    clear(phaseBar);
    const frame = state.frame;
    for (let f = 0; f < 2 * T; f += 1) {
      const p = f < T ? "forward" : "backward";
      const s = p === "forward" ? f : 2 * T - 1 - f;
      phaseBar.append(el("span", { class: `pb ${p}${f === frame ? " now" : ""}${f < frame ?
        " done" : ""}`, title: `${p} t = ${s}` }, p === "forward" ? `→${s}` : `←${s}`));
    }
    phaseBar.dataset.phase = phase;
    phaseBar.prepend(el("b", { class: `phase-name ${phase}`, text: phase === "forward" ?
      `forward pass, t = ${t}` : `backward pass, t = ${t}` }));
  }

  function narrate(phase, t, b) {
    const data = state.data;
    const T = data.forward.length;
    const tok = JSON.stringify(data.tokens[t]);
    if (phase === "forward") {
      narration.textContent = `Forward, t = ${t}: read ${tok}; h${sub(t)} = tanh(W_xh x${sub(t)}` +
        ` + W_hh h${t === 0 ? "₋₁" : sub(t - 1)} + b) is stored for later; the loss of ` +
        `predicting the next character${data.forward[t].target === undefined ? "" :
          ` (${JSON.stringify(data.forward[t].target)})`} is ` +
        `L${sub(t)} = −log p = ${fmt(data.forward[t].loss, 4)}.` +
        (t === T - 1 ? " Next: the backward pass, from the last step." : "");
      return;
    }
    narration.textContent = `Backward, t = ${t}: ∂L/∂h${sub(t)} ` +
      `${t === T - 1 ? "comes from this step's output only" :
        `= this step's output gradient + W_hhᵀ δ${sub(t + 1)} from the future`}; ` +
      `δ${sub(t)} = ∂L/∂h${sub(t)} ⊙ (1 − h${sub(t)}²). It adds ‖δ${sub(t)} x${sub(t)}ᵀ‖ = ` +
      `${fmt(b.dW_xh_step_norm, 3)} to W_xh and ` +
      `‖δ${sub(t)} h${t === 0 ? "₋₁" : sub(t - 1)}ᵀ‖ = ` +
      `${fmt(b.dW_hh_step_norm, 3)} to W_hh` + (t === 0 ? " (h₋₁ = 0, so nothing)." : ".");
  }

  function drawFinal(complete) {
    const f = state.data.final;
    clear(final);
    if (!complete) {
      final.append(el("p", { class: "muted", text: "The totals appear when the backward pass " +
        "reaches t = 0." }));
      return;
    }
    const ok = f.check_vs_layer_backward < 1e-5;
    final.append(
      el("div", { class: "cards" }, [
        ["W_xh", f.dW_xh_norm], ["W_hh", f.dW_hh_norm], ["W_hy", f.dW_hy_norm],
      ].map(([name, v]) => el("div", { class: "card" }, [
        el("div", { class: "card-label", text: `‖∂L/∂${name}‖` }),
        el("div", { class: "card-value", text: fmt(v, 5) }),
      ])).concat([el("div", { class: "card" }, [
        el("div", { class: "card-label", text: "vs the layer's own backward()" }),
        el("div", { class: `card-value ${ok ? "good" : "bad"}`,
          text: `max |diff| ${fmt(f.check_vs_layer_backward, 2)}` }),
        el("div", { class: "muted small", text: ok ? "the step-by-step sums are the gradients" :
          "mismatch" }),
      ])])),
    );
  }

  setState(section, { phase: "forward", step: 0, frame: 0, playing: "false" });
  pause.disabled = true;
  request.run({ text: input.value }).then((data) => data && show(data));

  return {
    show() {},
    hide() {
      setPlaying(false);
    },
  };
}
