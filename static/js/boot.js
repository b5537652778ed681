// What every page does first (templates/page.html): read the boot JSON its template embeds (the table the server
// describes, as its API says it, and the server's reading of the link), build the page state, the notices and the
// settings form from it, and say so when the start fails.

import { Controls } from "./controls.js";
import { addDismiss, showNotices } from "./panels.js";
import { Schema } from "./schema.js";
import { PageState } from "./state.js";

/** The boot JSON of `#gfl-boot`; the table from `api` (the page's table route) when a copy of the page has none. */
async function loadBoot(api) {
  const el = document.getElementById("gfl-boot");
  const boot = el ? JSON.parse(el.textContent || "{}") : {};
  if (!Array.isArray(boot.fields) || !boot.fields.length) Object.assign(boot, await (await fetch(api)).json());
  return boot;
}

/**
 * The notices of `el`: those the server rendered get the same dismiss button as the page's own, the link's
 * notices the page read itself are shown; returns `notify(list, source)`, which shows a batch of the page's own.
 */
function noticeBoard(el, linkNotices = []) {
  const notify = (list, source) => showNotices(el, list, source);
  for (const p of el.querySelectorAll(".notice")) addDismiss(p);
  notify(linkNotices.map((n) => ({ ...n, message: `Link: ${n.message}` })), "page-link");
  return notify;
}

/**
 * Open a page: its boot data (the table from `api`, the page's table route, when a copy of the page has none), its
 * settings folded on a narrow screen, the page state, the notices (`notify(list, source)` adds the page's own) and
 * the settings form built from the table.
 */
export async function openPage(api) {
  const boot = await loadBoot(api);
  foldOnNarrowScreens(document.querySelector(".sidebar-fold"));
  const schema = new Schema(boot.fields, boot.link_version ?? 1);
  const state = PageState.fromLocation(schema, boot);
  const notify = noticeBoard(document.getElementById("notices"), state.linkNotices);
  const form = document.getElementById("controls");
  const controls = new Controls(form, state, (list) => notify(list, "form"));
  return { schema, state, notify, form, controls };
}

/** Run a page's `main`; a failure is shown in its notices, then thrown for the console. */
export function startPage(main) {
  main().catch((e) => {
    const el = document.getElementById("notices");
    if (el) showNotices(el, [{ field: null, message: `The page failed to start: ${e.message}` }], "error");
    throw e;
  });
}

/** On a narrow screen a page's settings (`fold`, a <details>) start folded, so the views come first. */
function foldOnNarrowScreens(fold) {
  if (fold && window.matchMedia("(max-width: 820px)").matches) fold.open = false;
}
