// View 2 — Hidden-state dynamics: a sentence goes in word by word; hₜ is drawn as a heatmap
// (units × words) and as bars for the current word, beside the sentiment model's running
// prediction P(positive) after each word. With `rnnlab explore --sentiment DIR` a picker offers
// the model of `rnnlab task sentiment` too; the most sentiment-laden units are outlined.

import {
  button, clear, debounce, diverging, el, fmt, labelled, LatestRequest, setState,
  statusLine, svg, Ticker, viewHeader,
} from "./common.js";

const EXAMPLES = [
  "the movie was great",
  "the plot was dull and the acting was bad",
  "i expected a boring film but it was a wonderful surprise",
  "not good",
];
const PRED_H = 86; // height of the prediction strip
const LABEL_H = 74; // room for the rotated word labels
const LEFT = 46; // room for the unit labels
const BARS_W = 170; // the per-unit bars of the current step
const WORD_MS = 260;

export function mount(section, defaults) {
  const state = { data: null, step: 0, geometry: null };
  const ticker = new Ticker();

  viewHeader(section, "Hidden-state dynamics", [
    "A recurrent network reads a sentence one word at a time and keeps what it has read in its " +
      "hidden state hₜ. Each column of the heatmap is hₜ after one more word; the bars on the " +
      "right are the current column, unit by unit; the line on top is the sentiment model's " +
      "prediction P(positive) computed from hₜ after each word.",
    "Type a sentence and watch the state change word by word. Words the model never saw " +
      "(dashed) are read as one shared 'unknown' word.",
  ]);

  const status = statusLine(section);
  const request = new LatestRequest("hidden-state", status);
  const input = el("input", { type: "text", class: "text-input wide", maxlength: 300,
    value: defaults.text ?? EXAMPLES[0], spellcheck: "false", "aria-label": "sentence",
    "data-role": "text" });
  const examples = el("div", { class: "examples" }, [el("span", { class: "muted small",
    text: "try:" }), ...EXAMPLES.map((text) => button(text, () => {
    input.value = text;
    refresh();
  }, { class: "btn link" }))]);
  const slider = el("input", { type: "range", min: 0, max: 0, value: 0, step: 1,
    "aria-label": "word", "data-role": "step" });
  const replay = button("▶ Replay", () => animateFrom(0), { "data-role": "replay" });
  const picker = el("select", { "aria-label": "model", "data-role": "model" });
  const pickerField = labelled("Model", picker);
  pickerField.hidden = true;
  picker.addEventListener("change", () => refresh());
  const params = () => ({ text: input.value, model: picker.value || defaults.model || "explorer" });
  section.append(
    el("div", { class: "controls" }, [labelled("Sentence", input), pickerField, status.node]),
    examples,
    el("div", { class: "controls" }, [labelled("Word", slider), replay]),
  );

  const words = el("div", { class: "word-row", "aria-label": "words" });
  const figure = el("div", { class: "figure scroll-x" });
  const verdict = el("div", { class: "verdict" });
  section.append(words, el("div", { class: "split" }, [figure, verdict]));

  const refresh = debounce(async () => {
    const data = await request.run(params());
    if (data) show(data);
  }, 250);
  input.addEventListener("input", refresh);
  slider.addEventListener("input", () => {
    ticker.stop();
    section.dataset.animating = "false";
    setStep(Number(slider.value));
  });

  function show(data) {
    const old = state.data;
    let start = 0;
    syncPicker(data);
    if (old && old.model === data.model) {
      while (start < data.words.length && start < old.words.length &&
        data.words[start] === old.words[start]) start += 1;
    }
    state.data = data;
    draw();
    section.dataset.ready = "true";
    animateFrom(Math.min(start, data.words.length - 1));
  }

  function syncPicker(data) {
    const names = Object.entries(data.models ?? {});
    pickerField.hidden = names.length < 2;
    if (picker.options.length !== names.length) {
      clear(picker);
      for (const [value, text] of names) picker.append(el("option", { value, text }));
    }
    picker.value = data.model ?? "explorer";
  }

  function animateFrom(start) {
    const n = state.data.words.length;
    ticker.stop();
    setStep(start);
    if (start >= n - 1) {
      section.dataset.animating = "false";
      return;
    }
    section.dataset.animating = "true";
    ticker.every(WORD_MS, () => {
      setStep(state.step + 1);
      if (state.step >= n - 1) {
        section.dataset.animating = "false";
        return false;
      }
      return true;
    });
  }

  // -- drawing ----------------------------------------------------------------------------------

  function draw() {
    const data = state.data;
    const n = data.words.length;
    const units = data.units;
    const cw = Math.max(12, Math.min(52, Math.floor(720 / n)));
    const ch = Math.max(7, Math.min(20, Math.floor(320 / units)));
    const mapW = n * cw;
    const mapH = units * ch;
    const top = PRED_H + 12;
    const width = LEFT + mapW + 24 + BARS_W + 10;
    const height = top + mapH + LABEL_H;
    state.geometry = { cw, ch, top, mapW, mapH };

    // words as chips
    clear(words);
    data.words.forEach((word, i) => {
      words.append(el("button", { type: "button", class: data.known[i] ? "word" : "word unknown",
        "data-i": i, title: data.known[i] ? "" : "not in the model's vocabulary",
        onclick: () => {
          ticker.stop();
          section.dataset.animating = "false";
          setStep(i);
        } }, word));
    });

    clear(figure);
    const root = svg("svg", { class: "hs-svg", width, height, viewBox: `0 0 ${width} ${height}`,
      role: "img", "aria-label": "hidden state heatmap" });
    // prediction strip (axis, 0.5 line; the line itself is drawn per step)
    const py = (p) => 8 + (1 - p) * (PRED_H - 16);
    root.append(
      svg("rect", { x: LEFT, y: 0, width: mapW, height: PRED_H, class: "strip-bg" }),
      svg("line", { x1: LEFT, x2: LEFT + mapW, y1: py(0.5), y2: py(0.5), class: "half-line" }),
      svg("text", { x: LEFT - 6, y: py(1) + 4, class: "axis-text end", text: "1" }),
      svg("text", { x: LEFT - 6, y: py(0.5) + 4, class: "axis-text end", text: "0.5" }),
      svg("text", { x: LEFT - 6, y: py(0) + 4, class: "axis-text end", text: "0" }),
      svg("text", { x: LEFT + mapW + 8, y: py(0.5) + 4, class: "axis-text",
        text: "P(positive)" }),
    );
    const line = svg("polyline", { class: "pred-line", points: "" });
    const dots = svg("g", { class: "pred-dots" });
    root.append(line, dots);
    state.py = py;

    // heatmap: one column per word
    const map = svg("g", { class: "heatmap" });
    data.h.forEach((column, i) => {
      const col = svg("g", { class: "hs-col", "data-i": i });
      column.forEach((v, u) => {
        col.append(svg("rect", { x: LEFT + i * cw, y: top + u * ch, width: cw - 1,
          height: ch - 1, fill: diverging(v, 1) }, svg("title", {
          text: `${data.words[i]} · unit ${u}: ${fmt(v, 4)}` })));
      });
      map.append(col);
    });
    root.append(map);
    for (let u = 0; u < units; u += Math.max(1, Math.ceil(units / 8))) {
      root.append(svg("text", { x: LEFT - 6, y: top + u * ch + ch - 1, class: "axis-text end",
        text: `h${u}` }));
    }
    data.words.forEach((word, i) => {
      const x = LEFT + i * cw + cw / 2;
      const y = top + mapH + 10;
      root.append(svg("text", { x, y, class: data.known[i] ? "word-label" : "word-label unknown",
        transform: `rotate(45 ${x} ${y})`, text: word.length > 11 ? `${word.slice(0, 10)}…` : word,
        "data-i": i }));
    });
    // the most sentiment-laden units: outlined rows, and the way each pushes (sign of w_u)
    for (const u of data.top_units ?? []) {
      const sign = data.readout[u] >= 0 ? "pos" : "neg";
      root.append(svg("rect", { class: `laden-row ${sign}`, x: LEFT - 1, y: top + u * ch - 0.5,
        width: mapW + 1, height: ch, "data-unit": u }, svg("title", {
        text: `unit ${u}: output weight ${fmt(data.readout[u], 3)}` })));
      root.append(svg("text", { x: LEFT + mapW + 12, y: top + u * ch + ch - 1,
        class: `axis-text middle laden-sign ${sign}`, text: sign === "pos" ? "+" : "−" }));
    }
    const cursor = svg("rect", { class: "cursor", y: top - 2, width: cw + 1, height: mapH + 3,
      rx: 2 });
    root.append(cursor);
    state.cursor = cursor;
    state.line = line;
    state.dots = dots;

    // bars panel, aligned with the heatmap rows
    const bx = LEFT + mapW + 24;
    const mid = bx + BARS_W / 2;
    root.append(
      svg("text", { x: mid, y: top - 6, class: "axis-text middle", text: "hₜ, unit by unit" }),
      svg("line", { x1: mid, x2: mid, y1: top, y2: top + mapH, class: "zero" }),
      svg("text", { x: bx, y: top + mapH + 14, class: "axis-text", text: "−1" }),
      svg("text", { x: bx + BARS_W, y: top + mapH + 14, class: "axis-text end", text: "+1" }),
    );
    const bars = svg("g", { class: "unit-bars" });
    for (let u = 0; u < units; u += 1) {
      bars.append(svg("rect", { class: "bar", y: top + u * ch, height: ch - 1, x: mid,
        width: 0 }));
    }
    root.append(bars);
    state.bars = bars;
    state.barGeom = { mid, half: BARS_W / 2 - 4 };
    figure.append(root);

    slider.max = String(n - 1);
    setState(section, { words: n, units, text: input.value, model: data.model ?? "explorer",
      topUnits: (data.top_units ?? []).join(",") });
  }

  function setStep(k) {
    const data = state.data;
    const n = data.words.length;
    k = Math.max(0, Math.min(n - 1, k));
    state.step = k;
    slider.value = String(k);
    const { cw, top } = state.geometry;
    // columns after the current word are not read yet
    for (const col of figure.querySelectorAll(".hs-col")) {
      col.classList.toggle("future", Number(col.dataset.i) > k);
    }
    for (const label of figure.querySelectorAll(".word-label")) {
      label.classList.toggle("future", Number(label.dataset.i) > k);
    }
    for (const chip of words.querySelectorAll(".word")) {
      const i = Number(chip.dataset.i);
      chip.classList.toggle("current", i === k);
      chip.classList.toggle("future", i > k);
    }
    state.cursor.setAttribute("x", LEFT + k * cw - 1);
    state.cursor.setAttribute("y", top - 2);
    // running prediction up to this word
    const pts = data.prediction.slice(0, k + 1).map((p, i) =>
      `${LEFT + i * cw + cw / 2},${state.py(p)}`);
    state.line.setAttribute("points", pts.join(" "));
    clear(state.dots);
    data.prediction.slice(0, k + 1).forEach((p, i) => {
      state.dots.append(svg("circle", { cx: LEFT + i * cw + cw / 2, cy: state.py(p),
        r: i === k ? 4.5 : 2.5, class: p >= 0.5 ? "dot pos" : "dot neg" },
      svg("title", { text: `after “${data.words[i]}”: P(positive) = ${fmt(p, 3)}` })));
    });
    // bars of h_k
    const { mid, half } = state.barGeom;
    const laden = new Set(data.top_units ?? []);
    [...state.bars.children].forEach((bar, u) => {
      const v = data.h[k][u];
      const w = Math.min(1, Math.abs(v)) * half;
      bar.setAttribute("x", v >= 0 ? mid : mid - w);
      bar.setAttribute("width", Math.max(w, 0.5));
      bar.setAttribute("class", `bar ${v >= 0 ? "pos" : "neg"}${laden.has(u) ? " laden" : ""}`);
    });
    drawVerdict(k);
    setState(section, { step: k, prediction: data.prediction[k], word: data.words[k] });
  }

  function drawVerdict(k) {
    const data = state.data;
    const p = data.prediction[k];
    const label = p >= 0.5 ? data.label_names[1] : data.label_names[0];
    clear(verdict);
    const gauge = el("div", { class: "gauge" }, [el("div", { class: "gauge-fill" })]);
    gauge.firstChild.style.width = `${(100 * p).toFixed(1)}%`;
    gauge.firstChild.classList.toggle("neg", p < 0.5);
    verdict.append(
      el("div", { class: "muted small", text: `after word ${k + 1} of ${data.words.length}` }),
      el("div", { class: "verdict-word" }, [el("code", { text: data.words[k] }),
        data.known[k] ? null : el("span", { class: "tag", text: "unknown" })]),
      el("div", { class: `verdict-label ${p >= 0.5 ? "pos" : "neg"}`, text: label }),
      el("div", { class: "verdict-p", text: `P(${data.label_names[1]}) = ${fmt(p, 3)}` }),
      gauge,
      el("div", { class: "muted small", text: `${data.units} hidden units; hover the heatmap ` +
        "for the values" }),
      (data.top_units ?? []).length ? el("div", { class: "small laden-list", text:
        "most sentiment-laden units (w·h now): " + data.top_units.map((u) => {
          const push = data.readout[u] * data.h[k][u];
          return `h${u} ${push >= 0 ? "+" : "−"}${fmt(Math.abs(push), 2)}`;
        }).join(", ") }) : null,
    );
    section.dataset.label = label;
  }

  setState(section, { step: 0, words: 0 });
  request.run(params()).then((data) => data && show(data));

  return {
    show() {},
    hide() {
      if (ticker.running) {
        ticker.stop();
        setStep(state.data.words.length - 1);
        section.dataset.animating = "false";
      }
    },
  };
}
