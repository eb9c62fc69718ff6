// View 4 — Character generation: the input character updates h, h gives a softmax over the
// next character (sharpened or flattened by the temperature), one character is sampled and fed
// back as the next input. The server computes the whole run for a (prime, temperature, seed);
// the page plays it back one step at a time.

import {
  button, clear, debounce, diverging, el, fmt, glyph, labelled, LatestRequest, maxAbs, pct,
  setState, statusLine, svg, Ticker, viewHeader,
} from "./common.js";

const STEPS = 120;
const PLAY_MS = 320;

export function mount(section, defaults) {
  const state = { data: null, t: 0, playing: false };
  const ticker = new Ticker();

  viewHeader(section, "Character generation", [
    "A character-level language model writes one character at a time: the input character " +
      "updates the hidden state h, a softmax over W_hy h gives the probability of every next " +
      "character, one is sampled, and it becomes the next input. The temperature divides the " +
      "logits before the softmax: low is cautious and repetitive, high is adventurous; 0 " +
      "always takes the most likely character. The same seed gives the same text.",
  ]);

  const status = statusLine(section);
  const request = new LatestRequest("generation", status);
  const prime = el("input", { type: "text", class: "text-input", maxlength: 64,
    value: defaults.prime ?? "ROMEO:", spellcheck: "false", "aria-label": "prime",
    "data-role": "prime" });
  const temperature = el("input", { type: "range", min: 0, max: 3, step: 0.05,
    value: defaults.temperature ?? 0.8, "aria-label": "temperature", "data-role": "temperature" });
  const tempValue = el("output", { class: "value", text: fmt(Number(temperature.value), 3) });
  const seed = el("input", { type: "number", min: 0, step: 1, value: defaults.seed ?? 0,
    class: "num-input", "aria-label": "seed", "data-role": "seed" });
  const play = button("▶ Play", () => setPlaying(true), { "data-role": "play" });
  const pause = button("❚❚ Pause", () => setPlaying(false), { "data-role": "pause" });
  const step = button("Step ›", () => {
    setPlaying(false);
    goTo(state.t + 1);
  }, { "data-role": "step" });
  const restart = button("↺ Restart", () => {
    setPlaying(false);
    goTo(0);
  }, { "data-role": "restart" });
  section.append(el("div", { class: "controls" }, [
    labelled("Prime", prime),
    labelled("Temperature", temperature, tempValue),
    labelled("Seed", seed),
    el("div", { class: "btn-group" }, [play, pause, step, restart]),
    status.node,
  ]));

  // the pipeline: input -> h -> softmax -> sample, and back
  const inputBox = el("div", { class: "char-box", "data-role": "input-char" });
  const hStrip = el("div", { class: "h-strip" });
  const hNorm = el("div", { class: "muted small" });
  const spark = el("div", { class: "spark" });
  const probs = el("ol", { class: "probs" });
  const sampledBox = el("div", { class: "char-box sampled", "data-role": "sampled-char" });
  const pipeline = el("div", { class: "pipeline" }, [
    el("div", { class: "stage s-input" }, [el("div", { class: "stage-title", text: "input xₜ" }),
      inputBox]),
    el("div", { class: "pipe-arrow", text: "→" }),
    el("div", { class: "stage s-hidden" }, [
      el("div", { class: "stage-title", text: "hₜ = cell(xₜ, hₜ₋₁)" }), hStrip, hNorm, spark]),
    el("div", { class: "pipe-arrow", text: "→" }),
    el("div", { class: "stage s-probs" }, [
      el("div", { class: "stage-title", text: "softmax(W_hy hₜ / temperature), top 10" }),
      probs]),
    el("div", { class: "pipe-arrow", text: "→" }),
    el("div", { class: "stage s-sample" }, [el("div", { class: "stage-title", text: "sample" }),
      sampledBox]),
  ]);
  const feedback = el("div", { class: "feedback" }, [
    el("span", { text: "↩ the sampled character is fed back as the next input" })]);
  const output = el("pre", { class: "gen-text", "aria-label": "generated text" });
  section.append(el("div", { class: "panel" }, [pipeline, feedback]), output);

  // -- data -------------------------------------------------------------------------------------

  async function load() {
    const params = { prime: prime.value, temperature: Number(temperature.value),
      seed: Number(seed.value), steps: STEPS };
    const data = await request.run(params);
    if (!data) return;
    state.data = data;
    section.dataset.ready = "true";
    setState(section, { temperature: data.temperature, seed: data.seed,
      totalSteps: data.steps.length, prime: data.prime });
    goTo(Math.min(state.t, data.steps.length - 1));
    if (state.playing) setPlaying(true);
  }
  const reload = debounce(load, 200);
  temperature.addEventListener("input", () => {
    tempValue.textContent = fmt(Number(temperature.value), 3);
    reload();
  });
  seed.addEventListener("input", () => {
    if (seed.value !== "") reload();
  });
  prime.addEventListener("input", () => {
    state.t = 0;
    reload();
  });

  // -- playback ---------------------------------------------------------------------------------

  function setPlaying(on) {
    if (on && state.data && state.t >= state.data.steps.length - 1) goTo(0);
    state.playing = on && Boolean(state.data);
    section.dataset.playing = String(state.playing);
    play.disabled = state.playing;
    pause.disabled = !state.playing;
    if (!state.playing) {
      ticker.stop();
      return;
    }
    ticker.every(PLAY_MS, () => {
      goTo(state.t + 1);
      if (state.t >= state.data.steps.length - 1) {
        setPlaying(false);
        return false;
      }
      return true;
    });
  }

  function goTo(t) {
    const data = state.data;
    if (!data) return;
    t = Math.max(0, Math.min(data.steps.length - 1, t));
    state.t = t;
    const s = data.steps[t];
    // 1. the input character
    inputBox.textContent = glyph(s.input);
    inputBox.title = JSON.stringify(s.input);
    // 2. the hidden state
    clear(hStrip);
    const scale = Math.max(1e-6, maxAbs(s.h));
    for (const [i, v] of s.h.entries()) {
      const cellNode = el("span", { class: "h-cell", title: `h${i} = ${fmt(v, 4)}` });
      cellNode.style.background = diverging(v, Math.max(scale, 0.5));
      hStrip.append(cellNode);
    }
    hNorm.textContent = `‖hₜ‖ = ${fmt(s.h_norm, 3)}` +
      (s.h.length < 32 ? "" : " (first 32 units)");
    drawSpark(t);
    // 3. the distribution, 4. the sample
    clear(probs);
    for (const e of s.probs) {
      const fill = el("span", { class: "prob-fill" });
      fill.style.width = `${Math.max(0.4, 100 * e.p).toFixed(1)}%`;
      probs.append(el("li", { class: e.char === s.sampled ? "prob picked" : "prob" }, [
        el("code", { class: "prob-char", text: glyph(e.char) }),
        el("span", { class: "prob-track" }, fill),
        el("span", { class: "prob-p", text: pct(e.p) }),
      ]));
    }
    const inTop = s.probs.some((e) => e.char === s.sampled);
    sampledBox.textContent = glyph(s.sampled);
    sampledBox.title = inTop ? "" : "sampled from outside the top 10";
    // the text so far
    clear(output);
    const generated = data.steps.slice(0, t + 1).map((x) => x.sampled).join("");
    output.append(el("span", { class: "prime", text: data.prime }),
      el("span", { text: generated.slice(0, -1) }),
      el("span", { class: "latest", text: generated.slice(-1) }),
      el("span", { class: "caret", text: "▍" }));
    pipeline.classList.remove("tick");
    void pipeline.offsetWidth; // restart the CSS step animation
    pipeline.classList.add("tick");
    setState(section, { step: t, input: s.input, sampled: s.sampled, hNorm: s.h_norm,
      generated });
  }

  function drawSpark(t) {
    const norms = state.data.steps.map((s) => s.h_norm);
    const w = 220;
    const h = 40;
    const top = Math.max(1e-6, ...norms);
    const x = (i) => (i / Math.max(1, norms.length - 1)) * (w - 4) + 2;
    const y = (v) => h - 3 - (v / top) * (h - 8);
    clear(spark);
    const root = svg("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img",
      "aria-label": "norm of h over the steps" });
    root.append(
      svg("polyline", { class: "spark-all", points: norms.map((v, i) => `${x(i)},${y(v)}`)
        .join(" ") }),
      svg("polyline", { class: "spark-done", points: norms.slice(0, t + 1)
        .map((v, i) => `${x(i)},${y(v)}`).join(" ") }),
      svg("circle", { cx: x(t), cy: y(norms[t]), r: 3, class: "spark-dot" }),
    );
    spark.append(root, el("div", { class: "muted small", text: "‖hₜ‖ over the run" }));
  }

  setState(section, { step: 0, playing: "false", temperature: temperature.value,
    seed: seed.value });
  pause.disabled = true;
  load();

  return {
    show() {},
    hide() {
      setPlaying(false);
    },
  };
}
