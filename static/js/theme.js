// The charts' colours, light or dark as the system asks (prefers-color-scheme): read from the page's custom
// properties (--chart-*, static/css/style.css), so the palette lives in one place.  The views draw in the light
// theme's neutral greys; in the dark theme each of those becomes its dark counterpart here, while the data colours
// (Okabe–Ito lines, the heatmaps' scales, the overflow and underflow marks) stay as they are.

export const darkScheme = (typeof window !== "undefined" && window.matchMedia?.("(prefers-color-scheme: dark)")) ||
  { matches: false };

/** The chart colours of the page's theme now, and its type size (--chart-font-size: a presenting page's is larger). */
export function chartTheme(doc = document) {
  const css = getComputedStyle(doc.body || doc.documentElement);
  const v = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  return {
    dark: darkScheme.matches,
    paper: v("--chart-paper", "#fff"), ink: v("--chart-ink", "#222"), muted: v("--chart-muted", "#555"),
    grid: v("--chart-grid", "#e6e6e6"), axis: v("--chart-axis", "#888"), fontSize: Number(v("--chart-font-size", "")) || null,
  };
}

// The light theme's neutrals, by the role each plays.
const ROLE = {
  "#000": "ink", "#000000": "ink", "#111": "ink", "#222": "ink", "#333": "ink",
  "#444": "muted", "#555": "muted", "#666": "muted",
  "#888": "axis", "#999": "axis", "#999999": "axis", "#bbb": "axis",
  "#ccc": "grid", "#e6e6e6": "grid", "#eee": "grid",
  "#fff": "paper", "#ffffff": "paper", "rgba(255,255,255,0.85)": "paper",
};

/** `colour` in `theme`: a light neutral becomes the theme's colour for its role; anything else is kept. */
export function themed(colour, theme) {
  if (!theme.dark || typeof colour !== "string") return colour;
  const role = ROLE[colour.toLowerCase().replace(/\s+/g, "")];
  return role ? theme[role] : colour;
}

const recolour = (obj, keys, theme) => {
  if (!obj) return obj;
  const out = { ...obj };
  for (const k of keys) if (k in out) out[k] = themed(out[k], theme);
  return out;
};

/** The house layout `full` (a fresh object) in `theme`: background, text, axes, notes and shapes. */
export function themeLayout(full, theme) {
  full.paper_bgcolor = theme.paper;
  full.plot_bgcolor = theme.paper;
  full.font = { ...full.font, color: theme.ink };
  if (theme.fontSize) largerType(full, theme.fontSize);
  if (!theme.dark) return full;
  for (const k of Object.keys(full)) {
    if (/^[xy]axis\d*$/.test(k)) full[k] = recolour({ gridcolor: theme.grid, linecolor: theme.axis, ...full[k] },
      ["gridcolor", "linecolor", "zerolinecolor", "tickcolor"], theme);
  }
  full.annotations = full.annotations?.map((a) => ({ ...recolour(a, ["bgcolor", "bordercolor"], theme),
    font: recolour(a.font, ["color"], theme) }));
  full.shapes = full.shapes?.map((s) => ({ ...s, line: recolour(s.line, ["color"], theme) }));
  full.modebar = { bgcolor: "rgba(0,0,0,0)", color: theme.muted, activecolor: theme.ink, ...full.modebar };
  return full;
}

// The house layout's type size (charts.js): a view's own sizes (legend, ticks, notes) are given against it.
const HOUSE_TYPE = 12;
const scaled = (font, k) => (typeof font?.size === "number" ? { ...font, size: Math.round(font.size * k) } : font);

/**
 * `full` (a fresh object) in type of `size` px instead of the house's 12: every size a view gives (legend, ticks of a
 * right axis, a band's labels, notes) grows in proportion, so a projector's chart has no screen-size text left.  Each
 * axis makes room for its larger labels; a short axis (a band of a stack, as the gates view's) keeps three ticks at
 * most so that its labels stay apart; the room above the plot (legend and notes) and a note's shift grow too.
 */
export function largerType(full, size) {
  const k = size / HOUSE_TYPE;
  full.font = { ...full.font, size };
  for (const key of Object.keys(full)) {
    if (!/^[xy]axis\d*$/.test(key)) continue;
    const axis = { automargin: true, ...full[key] };
    axis.tickfont = scaled(axis.tickfont, k);
    if (axis.title && typeof axis.title === "object") axis.title = { ...axis.title, font: scaled(axis.title.font, k) };
    const short = key.startsWith("y") && axis.domain && axis.domain[1] - axis.domain[0] < 0.3;
    if (short && axis.nticks === undefined) axis.nticks = 3;
    full[key] = axis;
  }
  if (full.legend) full.legend = { ...full.legend, font: scaled(full.legend.font, k) };
  full.annotations = full.annotations?.map((a) => ({ ...a, font: scaled(a.font, k), yshift: (a.yshift || 0) * k }));
  if (full.margin?.t) full.margin = { ...full.margin, t: Math.round(full.margin.t * k) };
  return full;
}

/**
 * The traces in `theme` (the same list in the light theme at the house's type; else copies with their neutral
 * colours swapped, and in larger type a short colour bar's ticks kept to three so that its labels stay apart).
 */
export function themeTraces(traces, theme) {
  const short = (bar) => bar && (bar.len ?? 1) < 0.5 && bar.nticks === undefined;
  if (theme.fontSize) traces = traces.map((t) => (short(t.colorbar) ? { ...t, colorbar: { ...t.colorbar, nticks: 3 } } : t));
  if (!theme.dark) return traces;
  return traces.map((t) => {
    const out = { ...t };
    if (t.line) out.line = recolour(t.line, ["color"], theme);
    if (t.marker) out.marker = { ...recolour(t.marker, ["color"], theme), line: recolour(t.marker.line, ["color"], theme) };
    if (t.textfont) out.textfont = recolour(t.textfont, ["color"], theme);
    if (typeof t.fillcolor === "string") out.fillcolor = themed(t.fillcolor, theme);
    return out;
  });
}
