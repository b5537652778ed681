// Downloads of the current run: a PNG of any view, the per-timestep norms as
// CSV, the whole trace as JSON, the lag map on show as CSV.  Files are made in the page; nothing is sent.

import { lagCSV } from "./lag.js";
import { rove } from "./roving.js";
import { saveURL } from "./slide_png.js";

/** Save `text` as a file called `filename`. */
export function downloadText(filename, text, mime) {
  const url = URL.createObjectURL(new Blob([text], { type: mime }));
  saveURL(url, filename);
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A file name that says which model produced the numbers, e.g. `gfl-lstm-T1000-L2-bi-seed0`. */
export function baseName(config) {
  const parts = ["gfl", config.cell, `T${config.seq_len}`, `H${config.hidden_size}`];
  if (config.num_layers > 1) parts.push(`L${config.num_layers}`);
  if (config.bidirectional) parts.push("bi");
  if (config.clip !== "none") parts.push(`clip-${config.clip}${config.clip_at}`);
  parts.push(`gain${config.gain}`, `seed${config.seed}`);
  return parts.join("-");
}

/** Every key of `config` that applies, in words ("Cell = LSTM, Sequence length T = 100, …"): a slide's setting. */
export function settingWords(config, schema) {
  return schema.fields.filter((f) => !schema.trainingOnly(f.name) && schema.applies(f.name, config))
    .map((f) => `${schema.label(f.name)} = ${schema.valueText(f.name, config[f.name])}`).join(", ");
}

/**
 * A slide's title: the heading of the view holding `button` as the page typesets it (sub- and superscripts kept, the
 * heading's own buttons left out).
 */
export function viewTitle(button) {
  const heading = button.closest("figure, section")?.querySelector("h2, h3");
  if (!heading) return "";
  const copy = heading.cloneNode(true);
  copy.querySelectorAll("button, select, label").forEach((el) => el.remove());
  return copy.innerHTML.replace(/<(?!\/?(sub|sup)>)[^>]*>/g, "").replace(/\s+/g, " ").trim();
}

/**
 * Wire the download buttons: [data-png="chart id"], [data-download="csv"|"json"|"lag-csv"]; `shownLag()` is the
 * lag map on show (a LagMap, or null).  A PNG is a slide (slide_png.js): the view's heading and the setting in words,
 * `schema`'s words for the trace's config unless an element around the button says otherwise in data-setting.
 */
export function bindDownloads(root, charts, currentTrace, shownLag = () => null, schema = null) {
  // A view's row of download buttons is one tab stop, the arrow keys move along it (roving.js).
  for (const row of root.querySelectorAll(".summary-actions")) rove(row, () => [...row.querySelectorAll("button[data-download]")]);
  root.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-png], button[data-download]");
    if (!button) return;
    const trace = currentTrace();
    if (!trace) return;
    const name = baseName(trace.config);
    if (button.dataset.png) {
      const chart = charts[button.dataset.png];
      const setting = button.closest("[data-setting]")?.dataset.setting ?? (schema ? settingWords(trace.config, schema) : "");
      if (chart) chart.download(`${name}-${button.dataset.png.replace(/^chart-/, "")}`, { title: viewTitle(button), setting });
    } else if (button.dataset.download === "csv") {
      downloadText(`${name}.csv`, trace.toCSV(), "text/csv");
    } else if (button.dataset.download === "json") {
      downloadText(`${name}.json`, trace.toJSON(), "application/json");
    } else if (button.dataset.download === "lag-csv" && shownLag()) {
      const map = shownLag();
      downloadText(`${name}-lag-map${map.step == null ? "" : `-step${map.step}`}.csv`, lagCSV(map), "text/csv");
    }
  });
}

/** Copy the page's address; the button says whether it worked. */
export async function copyLink(button, url = location.href) {
  let ok = false;
  try {
    await navigator.clipboard.writeText(url);
    ok = true;
  } catch {
    // Older browsers, or clipboard permission refused: select a temporary field instead.
    const field = document.createElement("textarea");
    field.value = url;
    document.body.append(field);
    field.select();
    ok = document.execCommand("copy");
    field.remove();
  }
  const old = button.dataset.label || button.textContent;
  button.dataset.label = old;
  button.textContent = ok ? "Copied ✓" : "Copy failed: use the address bar";
  setTimeout(() => (button.textContent = old), 1600);
}
