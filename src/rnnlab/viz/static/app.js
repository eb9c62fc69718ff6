// The explorer's shell: reads ?view=, switches views with history.pushState, and mounts each
// view the first time it is shown (with the default parameters the server reports).

import * as attention from "./view-attention.js";
import * as bptt from "./view-bptt.js";
import * as forecast from "./view-forecast.js";
import * as generation from "./view-generation.js";
import * as hiddenState from "./view-hidden-state.js";
import * as unroll from "./view-unroll.js";
import * as vanishing from "./view-vanishing.js";
import * as weightSharing from "./view-weight-sharing.js";

const MODULES = {
  unroll,
  "hidden-state": hiddenState,
  "weight-sharing": weightSharing,
  generation,
  "vanishing-gradients": vanishing,
  "bptt-flow": bptt,
  attention,
  forecast,
};
const FIRST = "unroll";

const mounted = new Map(); // view name -> controller {show, hide}
let defaults = {};
let active = null;

function banner(message) {
  const node = document.getElementById("banner");
  node.textContent = message;
  node.hidden = !message;
}

function viewFromLocation() {
  const name = new URLSearchParams(window.location.search).get("view");
  return name && MODULES[name] ? name : FIRST;
}

function activate(name) {
  if (active === name) return;
  for (const section of document.querySelectorAll("section[data-view]")) {
    const on = section.dataset.view === name;
    section.hidden = !on;
    if (!on && mounted.has(section.dataset.view)) mounted.get(section.dataset.view).hide?.();
  }
  for (const link of document.querySelectorAll("#nav a[data-nav]")) {
    if (link.dataset.nav === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const section = document.querySelector(`section[data-view="${name}"]`);
  if (!mounted.has(name)) {
    mounted.set(name, MODULES[name].mount(section, defaults[name] || {}));
  }
  mounted.get(name).show?.();
  active = name;
  document.body.dataset.activeView = name;
  const title = document.querySelector(`#nav a[data-nav="${name}"]`)?.textContent ?? name;
  document.title = `${title} · rnnlab explorer`;
}

async function loadDefaults() {
  try {
    const response = await fetch("/api/views");
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const payload = await response.json();
    for (const view of payload.views) defaults[view.name] = view.defaults || {};
  } catch (err) {
    defaults = {};
    banner(`Could not read the view list from the server (${err.message}); using built-in ` +
      "defaults.");
  }
}

function wireNav() {
  document.getElementById("nav").addEventListener("click", (event) => {
    const link = event.target.closest("a[data-nav]");
    if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    const name = link.dataset.nav;
    if (name !== active) {
      history.pushState({ view: name }, "", `/?view=${encodeURIComponent(name)}`);
      activate(name);
    }
  });
  window.addEventListener("popstate", () => activate(viewFromLocation()));
}

async function start() {
  wireNav();
  await loadDefaults();
  activate(viewFromLocation());
}

start();
