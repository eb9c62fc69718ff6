// View 7 — Attention: a trained seq2seq model (rnnlab task g2p / translate) reads a word or a
// sentence; greedy search and beam search answer side by side, each with the heatmap of its
// attention weights: one row per output token (and EOS), one column per source token (and the
// source's EOS). The server decodes (rnnlab.viz.attention); the page only draws.

import {
  clear, debounce, el, fmt, labelled, LatestRequest, pct, setState, statusLine, viewHeader,
} from "./common.js";

const CELL = 30; // px per heatmap cell

/** White → deep blue for a weight in [0, 1] (sqrt: small weights stay visible). */
function shade(w) {
  const t = Math.sqrt(Math.max(0, Math.min(1, w)));
  const c = [247, 246, 242].map((v, i) => Math.round(v + ([31, 78, 145][i] - v) * t));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function heatmap(side, source, search) {
  const table = el("table", { class: "attention-map", "data-role": `heatmap-${search}`,
    "aria-label": `attention of the ${search} output` });
  Object.assign(table.style, { borderCollapse: "collapse", fontSize: "12px" });
  const head = el("tr", {}, [el("th", {})]);
  for (const tok of source) {
    const th = el("th", { text: tok, scope: "col" });
    Object.assign(th.style, { fontFamily: "var(--mono)", fontWeight: "500", padding: "2px",
      minWidth: `${CELL}px`, textAlign: "center" });
    head.append(th);
  }
  table.append(el("thead", {}, head));
  const body = el("tbody");
  side.attention.forEach((row, t) => {
    const label = el("th", { text: side.rows[t], scope: "row" });
    Object.assign(label.style, { fontFamily: "var(--mono)", fontWeight: "500",
      textAlign: "right", paddingRight: "6px", whiteSpace: "nowrap" });
    const tr = el("tr", { dataset: { row: String(t) } }, [label]);
    row.forEach((w, s) => {
      const td = el("td", { class: "att-cell", title: `${side.rows[t]} ← ${source[s]}: ${pct(w)}`,
        dataset: { weight: String(w), row: String(t), col: String(s) } });
      Object.assign(td.style, { width: `${CELL}px`, height: `${CELL - 6}px`,
        background: shade(w), border: "1px solid #fff", textAlign: "center",
        color: w > 0.45 ? "#fff" : "#1d232b", fontSize: "10px" });
      td.textContent = w >= 0.1 ? String(Math.round(100 * w)) : "";
      tr.append(td);
    });
    body.append(tr);
  });
  table.append(body);
  return table;
}

function panel(title, side, source, search, hasAttention) {
  const box = el("div", { class: "panel", "data-role": `panel-${search}` });
  Object.assign(box.style, { flex: "1 1 420px", minWidth: "300px" });
  box.append(
    el("div", { class: "card-label", text: title }),
    el("div", { class: "card-value", "data-role": `output-${search}`, text: side.text || "∅" }),
    el("div", { class: "muted small", text: (search === "beam"
      ? `score log P / length penalty = ${fmt(side.score, 4)}` : `log P = ${fmt(side.score, 4)}`) +
      (side.ended === false ? " · cut at the length limit (no EOS)" : "") }),
  );
  if (hasAttention) {
    const wrap = el("div", { class: "scroll-x" }, heatmap(side, source, search));
    wrap.style.marginTop = "8px";
    box.append(wrap);
  } else {
    box.append(el("p", { class: "muted", text: "This model has no attention layer." }));
  }
  return box;
}

export function mount(section, defaults) {
  viewHeader(section, "Attention", [
    "An encoder–decoder reads the source (the letters of a word for a pronunciation model, the " +
      "words of a sentence for a translation model) and writes the output one token at a time. " +
      "Before each output token the decoder looks back at every source position: the " +
      "attention weights αₜₛ (a softmax, each row sums to 100%) say how much of source token s " +
      "goes into the context for output token t.",
    "Greedy search takes the likeliest token at every step; beam search keeps the k best " +
      "partial outputs and returns the one with the best length-normalised score. Models come " +
      "from 'rnnlab task g2p' and 'rnnlab task translate' runs (in runs/ and results/).",
  ]);
  const status = statusLine(section);
  const request = new LatestRequest("attention", status);
  const model = el("select", { class: "text-input", "aria-label": "model",
    "data-role": "model" });
  const text = el("input", { type: "text", class: "text-input", maxlength: 200,
    value: defaults.text ?? "", spellcheck: "false", "aria-label": "text",
    "data-role": "text", placeholder: "a word or a sentence" });
  text.style.minWidth = "280px";
  const beam = el("input", { type: "number", min: 1, max: 10, step: 1,
    value: defaults.beam ?? 5, class: "num-input", "aria-label": "beam width",
    "data-role": "beam" });
  section.append(el("div", { class: "controls" }, [
    labelled("Model", model), labelled("Input", text), labelled("Beam width", beam),
    status.node,
  ]));
  const info = el("p", { class: "muted small", "data-role": "info" });
  const panels = el("div", { class: "split", "data-role": "panels" });
  section.append(info, panels);

  function fillModels(list, chosen) {
    const names = list.map((m) => m.name);
    if (names.join("\n") === [...model.options].map((o) => o.value).join("\n")) {
      model.value = chosen;
      return;
    }
    clear(model);
    for (const m of list) model.append(el("option", { value: m.name, text: `${m.name} (${m.task})` }));
    model.value = chosen;
  }

  function draw(data) {
    clear(panels);
    if (!data.models.length) {
      model.disabled = true;
      info.textContent = data.hint;
      setState(section, { model: "", task: "", greedy: "", beam: "", agree: "", models: 0 });
      return;
    }
    model.disabled = false;
    fillModels(data.models, data.model);
    if (!text.value) text.placeholder = data.text;
    const unknown = data.unknown.length
      ? ` Unknown to the model (read as <oov>): ${data.unknown.join(" ")}.` : "";
    info.textContent = `${data.task} model, attention ${data.attention_type ?? "none"}; ` +
      `${data.agree ? "greedy and beam search agree" : "greedy and beam search differ"}.` +
      unknown;
    panels.append(
      panel("Greedy search", data.greedy, data.source, "greedy", data.has_attention),
      panel(`Beam search (width ${data.beam_width})`, data.beam, data.source, "beam",
        data.has_attention),
    );
    setState(section, { model: data.model, task: data.task, text: data.text,
      greedy: data.greedy.text, beam: data.beam.text, agree: data.agree,
      beamWidth: data.beam_width, rows: data.beam.attention.length, cols: data.source.length,
      unknown: data.unknown.join(" "), models: data.models.length });
  }

  async function load() {
    const width = Number(beam.value);
    if (!Number.isInteger(width) || width < 1 || width > 10) {
      status.error("beam width: a whole number from 1 to 10");
      return;
    }
    const params = { model: model.value, text: text.value, beam: width };
    const data = await request.run(params);
    if (!data) return;
    draw(data);
    section.dataset.ready = "true";
  }
  const reload = debounce(load, 250);
  text.addEventListener("input", reload);
  beam.addEventListener("input", reload);
  model.addEventListener("change", () => {
    text.value = "";
    load();
  });
  load();
  return { show() {}, hide() {} };
}
