// PNGs for slides: a chart redrawn off screen at a projector's proportions, twice the pixels, with type large enough
// to read from the back of a room, a title (the view's heading) and the setting in words under it.  The page's chart
// is left as it is; only the copy handed to Plotly.toImage changes.  slideLayout has no DOM: node --test loads it.

/* global Plotly */

// 1280×720 at scale 2: a 16:9 slide, 2560×1440 pixels.
export const SLIDE = { width: 1280, height: 720, scale: 2 };
// Font sizes in the slide's 1280×720 units.
const TYPE = { base: 20, tick: 18, legend: 18, title: 26, setting: 16, note: 17 };
const SETTING_LINE = 120; // characters: the setting wraps onto lines of about this length

/**
 * Plain text with `_x` / `^x` written as the page typesets them: "σ_max" → σ<sub>max</sub>, "(γ·σ_max)^k" →
 * (γ·σ<sub>max</sub>)<sup>k</sup>.  Text that already holds tags is left alone.
 */
export function typeset(text) {
  if (typeof text !== "string" || /<\/?(sub|sup)>/.test(text)) return text;
  return text.replace(/_([A-Za-z0-9]+)/g, "<sub>$1</sub>").replace(/\^([A-Za-z0-9]+)/g, "<sup>$1</sup>");
}

/** `text` broken at ", " into lines of at most about `width` characters, joined with <br>. */
export function wrapWords(text, width = SETTING_LINE) {
  const lines = [];
  for (const part of text.split(", ")) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last].length + part.length + 2 <= width) lines[last] += `, ${part}`;
    else lines.push(part);
  }
  return lines.join(",<br>");
}

const scaledFont = (font, size) => ({ ...(font || {}), size });

/**
 * The slide's layout from a chart's own (`layout`, as Plotly holds it): every font sized for a projector, axis and
 * legend texts typeset, and `title` with `setting` in words above the plot.
 */
export function slideLayout(layout, { title, setting }) {
  const out = JSON.parse(JSON.stringify(layout));
  delete out.width;
  delete out.height;
  out.font = scaledFont(out.font, TYPE.base);
  for (const key of Object.keys(out).filter((k) => /^[xy]axis\d*$/.test(k))) {
    const axis = out[key];
    axis.tickfont = scaledFont(axis.tickfont, TYPE.tick);
    const t = typeof axis.title === "string" ? { text: axis.title } : axis.title;
    if (t) axis.title = { ...t, text: typeset(t.text), font: scaledFont(t.font, TYPE.base), standoff: 14 };
    axis.automargin = true;
  }
  if (out.legend) out.legend = { ...out.legend, font: scaledFont(out.legend.font, TYPE.legend) };
  out.annotations = (out.annotations || []).map((a) => ({ ...a, text: typeset(a.text), font: scaledFont(a.font, TYPE.note) }));
  const wrapped = setting ? typeset(wrapWords(setting)) : "";
  const lines = wrapped ? wrapped.split("<br>").length : 0;
  const words = wrapped ? `<br><span style="font-size:${TYPE.setting}px">${wrapped}</span>` : "";
  // Placed from the image's top edge (the container).  Plotly anchors a title of several lines by its first line's
  // middle, so the pad keeps that bold line inside the image.
  out.title = { text: `<b>${title}</b>${words}`, x: 0.01, xanchor: "left", xref: "container", y: 1,
    yanchor: "top", yref: "container", pad: { t: TYPE.title * 1.6, b: 8 }, automargin: true, font: { size: TYPE.title } };
  const m = out.margin || {};
  // Room for the title block above the legend (which sits on top of the plot).
  out.margin = { ...m, l: Math.max(m.l || 0, 90), r: Math.max(m.r || 0, 30), b: Math.max(m.b || 0, 80),
    t: (m.t || 0) + 30 + TYPE.title * 1.4 + lines * TYPE.setting * 1.9 };
  return out;
}

/** The chart's traces with their legend names typeset. */
export function slideData(data) {
  return data.map((t) => (t.name === undefined ? t : { ...t, name: typeset(t.name) }));
}

/** Save what `url` (a data: or blob: address) holds as a file called `filename`. */
export function saveURL(url, filename) {
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
}

/**
 * Download chart `el` (a drawn Plotly div) as a slide PNG called `filename`.png; `words` = {title, setting}.
 * Announces the slide's figure as `gfl:slide-png` (what a test, or a page embedding the lab, can inspect).
 */
export async function downloadSlide(el, filename, words) {
  const figure = { data: slideData(el.data), layout: slideLayout(el.layout, words) };
  saveURL(await Plotly.toImage(figure, { format: "png", ...SLIDE }), `${filename}.png`);
  window.dispatchEvent(new CustomEvent("gfl:slide-png", { detail: { filename, ...SLIDE, layout: figure.layout,
    names: figure.data.map((t) => t.name) } }));
}
