// Presenting (docs/protocol.md, "GET / and teaching links"): the link's `present=1` folds the settings and sets the
// page in large type with the player's keys written out; its `view=<name>` (one of the server's `views`) opens the
// page on one view, enlarged to fill the window.  Each view that can be enlarged gets a control for it and back;
// the lag map, a fold, opens in its place (its own summary is its control) and is enlarged only when presenting (its
// control, beside its own, gives the page back) or in an embed, where the view named is the only thing on the page.  The settings fold on a wide screen too.  For print, the setting in
// words stands above the views.  Every change goes through the page state, which writes the link.

/* global Plotly */

import { setText } from "./dom.js";
import { settingWords } from "./export.js";

const WIDE = "(min-width: 821px)"; // below, the settings are a fold of their own above the views (style.css)

/** The element of view `name` on the page: `#view-<name>`. */
const viewElement = (doc, name) => doc.getElementById(`view-${name}`);

/**
 * Bind presenting to the page.  `o`: the page `state` and whether the page is an `embed`.  Returns `{ enlarged() }`: the name of the view enlarged now, or null.
 */
export function bindPresenting(doc, { state, embed = false }) {
  const body = doc.body;
  body.classList.toggle("present", !!state.page.present);
  bindSettingsFold(doc, !!state.page.present);
  const named = () => (state.views.includes(state.page.view) ? state.page.view : null);
  // A fold (the lag map) is enlarged only on a presenter's page or in an embed: elsewhere it opens in its place,
  // beside the others (its lag row draws on the gradient chart).  Its own summary opens it.
  const present = !!state.page.present;
  const enlarges = (el) => el.tagName !== "DETAILS" || embed || present;
  const buttons = new Map();
  for (const name of state.views) {
    const el = viewElement(doc, name);
    if (!el || (el.tagName === "DETAILS" && (embed || !present))) continue;
    const button = enlargeButton(doc, el);
    button.addEventListener("click", () => {
      state.setPage("view", named() === name ? null : name);
      if (named() === name) el.scrollIntoView({ block: "start", behavior: "instant" });
    });
    buttons.set(name, button);
  }
  let shown = undefined;
  const apply = () => {
    const name = named();
    if (name === shown) return;
    shown = name;
    for (const v of state.views) {
      const el = viewElement(doc, v);
      el?.classList.toggle("enlarged", v === name && enlarges(el));
      const button = buttons.get(v);
      if (!button) continue;
      // A glyph to enlarge (the heading keeps its line); words for the way back, which must be plain.
      button.setAttribute("aria-pressed", String(v === name));
      button.textContent = v === name ? "⤡ All views" : "⤢";
      if (v === name) button.removeAttribute("aria-label");
      else button.setAttribute("aria-label", "Enlarge this view");
    }
    fitCharts(doc);
  };
  apply();
  if (named() && !embed && !state.page.lesson) viewElement(doc, named())?.scrollIntoView({ block: "start", behavior: "instant" });
  state.listen((change) => change.type === "page" && change.key === "view" && apply());
  // Escape gives the page back, as the control does (not while a form control has the keys).
  doc.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || !named() || !buttons.has(named()) || e.target.closest?.("input, select, textarea")) return;
    state.setPage("view", null);
  });
  bindPrint(doc, state);
  return { enlarged: named };
}

/** A view's control to enlarge it and back, in its header before the PNG button (a fold's: after its controls). */
function enlargeButton(doc, el) {
  const button = doc.createElement("button");
  button.type = "button";
  button.className = "enlarge";
  button.title = "Enlarge this view to fill the window, and back (Esc); the link keeps it";
  button.setAttribute("aria-pressed", "false");
  button.tabIndex = -1; // one tab stop with the view's PNG button and chart tools (charts.js): the arrow keys reach it
  const header = el.querySelector(":scope > header");
  if (header) header.insertBefore(button, header.querySelector(".png"));
  else el.querySelector(".lag-controls").append(button);
  return button;
}

/**
 * The settings beside the views fold on a wide screen: folded from the start when presenting.  (On a narrow one
 * they are a fold of their own, folded from the start: boot.js.)
 */
function bindSettingsFold(doc, folded) {
  const toggle = doc.getElementById("settings-toggle");
  if (!toggle) return;
  const set = (fold) => {
    doc.body.classList.toggle("settings-folded", fold);
    toggle.setAttribute("aria-expanded", String(!fold));
    toggle.textContent = fold ? "Settings »" : "« Hide settings";
  };
  set(folded && window.matchMedia(WIDE).matches);
  toggle.addEventListener("click", () => {
    set(!doc.body.classList.contains("settings-folded"));
    fitCharts(doc);
  });
}

/** Each drawn chart in sight takes its element's new size (Plotly follows the window's, not its element's). */
function fitCharts(doc) {
  requestAnimationFrame(() => {
    for (const el of doc.querySelectorAll(".chart.js-plotly-plot")) {
      if (el.offsetParent !== null) Plotly.Plots.resize(el).catch(() => {});
    }
  });
}

/** For print: the setting in words above the views (kept current), and the charts at the paper's width. */
function bindPrint(doc, state) {
  const el = doc.getElementById("print-setting");
  const say = () => {
    if (el) setText(el, `Setting: ${settingWords(state.config, state.schema)}.`);
  };
  say();
  state.listen((change) => change.type === "values" && say());
  window.matchMedia("print").addEventListener?.("change", () => fitCharts(doc));
}
