// View 8 — Forecasting: a run of `rnnlab task forecast` (its forecasts.json, read by the
// server: rnnlab.viz.forecast_view); pick a series and a forecast origin, and see the truth with
// the median forecast and 80% interval of each network and baseline from that origin. The
// page only draws what the server sends.

import {
  clear, el, fmt, labelled, LatestRequest, setState, statusLine, svg, viewHeader,
} from "./common.js";

const W = 760;
const H = 320;
const PAD = { left: 56, right: 12, top: 12, bottom: 28 };
const COLOURS = ["#2e6fb7", "#c0622b", "#3a9a5b", "#8a4fb3", "#d1495b", "#6b7a8f", "#b58900",
  "#2aa198", "#7a5c3e", "#444"];

function chart(data, bandModel) {
  const xs = data.steps;
  const all = [...data.truth];
  for (const m of data.models) all.push(...m.lower, ...m.upper);
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const x = (s) => PAD.left + ((s - xs[0]) / Math.max(1, xs[xs.length - 1] - xs[0])) *
    (W - PAD.left - PAD.right);
  const y = (v) => PAD.top + (1 - (v - lo) / Math.max(1e-12, hi - lo)) * (H - PAD.top - PAD.bottom);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img",
    "aria-label": "forecasts and truth", "data-role": "chart" });
  const path = (pts) => pts.map(([a, b], i) => `${i ? "L" : "M"}${a.toFixed(1)},${b.toFixed(1)}`)
    .join("");
  const first = data.first_forecast_step;
  const future = data.models.length ? data.models[0].median.map((_, k) => first + k) : [];
  const band = data.models.find((m) => m.name === bandModel);
  if (band) {
    const upper = future.map((s, k) => [x(s), y(band.upper[k])]);
    const lower = future.map((s, k) => [x(s), y(band.lower[k])]).reverse();
    root.append(svg("path", { d: `${path([...upper, ...lower])}Z`, fill: "rgba(46,111,183,0.18)",
      stroke: "none", "data-role": "band", "data-model": band.name }));
  }
  root.append(svg("line", { x1: x(first), x2: x(first), y1: PAD.top, y2: H - PAD.bottom,
    stroke: "#999", "stroke-dasharray": "3 3" }));
  root.append(svg("path", { d: path(xs.map((s, i) => [x(s), y(data.truth[i])])), fill: "none",
    stroke: "#1d232b", "stroke-width": 1.6, "data-role": "truth" }));
  data.models.forEach((m, i) => {
    root.append(svg("path", { d: path(future.map((s, k) => [x(s), y(m.median[k])])),
      fill: "none", stroke: COLOURS[i % COLOURS.length], "stroke-width": m.name === bandModel ? 2.2 : 1.2,
      "data-role": "median", "data-model": m.name }));
  });
  for (const v of [lo, (lo + hi) / 2, hi]) {
    root.append(svg("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end",
      "font-size": 11, fill: "#555" }, fmt(v, 4)));
  }
  for (const i of [0, xs.length - 1]) {
    root.append(svg("text", { x: x(xs[i]), y: H - 8, "text-anchor": i ? "end" : "start",
      "font-size": 11, fill: "#555" }, data.dates[i]));
  }
  return root;
}

function swatch(colour) {
  const node = el("span", { text: "■" });
  node.style.color = colour; // a CSSOM property: the page's CSP forbids style attributes
  return node;
}

function legend(data, bandModel) {
  const rows = data.models.map((m, i) => el("tr", { dataset: { model: m.name } }, [
    el("td", {}, swatch(COLOURS[i % COLOURS.length])),
    el("td", { text: m.name + (m.name === bandModel ? " (band)" : "") }),
    el("td", { text: fmt(m.mae, 4), dataset: { role: "mae" } }),
    el("td", { text: `${m.covered}/${m.median.length}` }),
    el("td", { text: m.mase === null ? "" : fmt(m.mase, 3) }),
  ]));
  return el("table", { class: "data-table", "data-role": "legend" }, [
    el("thead", {}, el("tr", {}, ["", "model", "MAE here", "in 80% interval",
      "MASE (all origins)"].map((t) => el("th", { text: t })))),
    el("tbody", {}, rows),
  ]);
}

export function mount(section, defaults) {
  viewHeader(section, "Forecasting", [
    "A forecast run ('rnnlab task forecast') trains LSTM/GRU forecasters and fits the " +
      "baselines (naive, seasonal naive, drift, ARIMA, ETS) on the history before its first " +
      "forecast origin, then forecasts from several origins. Pick one: the black line is the " +
      "truth, each coloured line a model's median forecast, the shaded band the 80% interval " +
      "of the model chosen below.",
    "MASE divides the mean absolute error by the in-sample error of the seasonal-naive " +
      "forecast: below 1, the model beats repeating last season.",
  ]);
  const status = statusLine(section);
  const request = new LatestRequest("forecast", status);
  const run = el("select", { class: "text-input", "aria-label": "run", "data-role": "run" });
  const series = el("select", { class: "text-input", "aria-label": "series",
    "data-role": "series" });
  const origin = el("select", { class: "text-input", "aria-label": "origin",
    "data-role": "origin" });
  const band = el("select", { class: "text-input", "aria-label": "interval of",
    "data-role": "band-model" });
  section.append(el("div", { class: "controls" }, [labelled("Run", run),
    labelled("Series", series), labelled("Origin", origin), labelled("Interval of", band),
    status.node]));
  const info = el("p", { class: "muted small", "data-role": "info" });
  const figure = el("div", { class: "scroll-x", "data-role": "figure" });
  section.append(info, figure);
  let last = null;

  function fill(select, values, chosen, labels) {
    const same = values.join("\n") === [...select.options].map((o) => o.value).join("\n");
    if (!same) {
      clear(select);
      values.forEach((v, i) => select.append(el("option", { value: v, text: labels?.[i] ?? v })));
    }
    select.value = chosen;
  }

  function draw(data) {
    clear(figure);
    if (!data.runs.length) {
      for (const s of [run, series, origin, band]) s.disabled = true;
      info.textContent = data.hint;
      setState(section, { run: "", series: "", origin: "", models: 0, runs: 0 });
      return;
    }
    fill(run, data.runs, data.run);
    fill(series, data.series_list, data.series);
    fill(origin, data.origins.map((_, i) => String(i)), String(data.origin), data.origins);
    const names = data.models.map((m) => m.name);
    const net = names.find((n) => n.endsWith("_direct")) ?? names[0];
    const chosen = names.includes(band.value) ? band.value : net;
    fill(band, names, chosen);
    info.textContent = `${data.series} (${data.column}): forecasts of ${data.horizon} steps ` +
      `from ${data.origin_date} (origin ${data.origin + 1} of ${data.origins.length}).`;
    figure.append(chart(data, chosen), legend(data, chosen));
    const best = [...data.models].sort((a, b) => a.mae - b.mae)[0];
    setState(section, { run: data.run, series: data.series, origin: data.origin,
      originDate: data.origin_date, horizon: data.horizon, models: data.models.length,
      band: chosen, best: best?.name ?? "", truthPoints: data.truth.length,
      runs: data.runs.length });
    last = data;
  }

  async function load(params) {
    const data = await request.run(params);
    if (!data) return;
    draw(data);
    section.dataset.ready = "true";
  }
  run.addEventListener("change", () => load({ run: run.value }));
  series.addEventListener("change", () => load({ run: run.value, series: series.value }));
  origin.addEventListener("change", () => load({ run: run.value, series: series.value,
    origin: Number(origin.value) }));
  band.addEventListener("change", () => { if (last) draw(last); });
  load({ run: defaults.run ?? "", series: defaults.series ?? "", origin: defaults.origin ?? -1 });
  return { show() {}, hide() {} };
}
