// The lab's one-screen introduction (templates/intro.html): opened on a first visit, when the page is not a slide
// (embed or present), a lesson (which teaches already) or a room's follower; closing it is remembered in
// localStorage, and the top bar's Help opens it again.

const SEEN = "gfl-intro-seen";

/** The browser's localStorage, or null where the page may keep nothing (then Help alone opens the introduction). */
function localStore() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/**
 * Bind the introduction's dialog and the Help button; open it now when `first` allows (the page is not a slide,
 * a lesson or a follower) and this browser has not closed it before.  `storage`: where the closing is kept.
 */
export function bindIntro(doc, { first, storage = localStore() }) {
  const dialog = doc.getElementById("intro");
  if (!dialog) return null;
  doc.getElementById("intro-open")?.addEventListener("click", () => dialog.showModal());
  dialog.addEventListener("close", () => {
    try {
      storage?.setItem(SEEN, "1");
    } catch {
      // storage full or refused: Help still opens it
    }
  });
  let before = true; // a browser that can keep nothing would otherwise meet it on every visit
  try {
    before = !storage || storage.getItem(SEEN) !== null;
  } catch {
    // as above
  }
  if (first && !before) dialog.showModal();
  return dialog;
}
