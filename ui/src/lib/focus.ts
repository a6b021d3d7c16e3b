// Where the keyboard focus goes: lists are one Tab stop with the arrow keys inside (a roving
// tabindex), and a view opened from within the page takes the focus on its heading, so that a
// keyboard or screen reader user starts where the new content starts.

/** The item an arrow, Home or End key moves to from `current` in `ids`; null for other keys. */
export function rovingTarget(key: string, ids: readonly string[], current: string | null): string | null {
  if (ids.length === 0) return null;
  const at = current === null ? -1 : ids.indexOf(current);
  const moves: Record<string, number> = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: ids.length - 1 };
  const to = moves[key];
  if (to === undefined) return null;
  return ids[Math.min(ids.length - 1, Math.max(0, to))] ?? null;
}

/** The one item of a list that Tab reaches: the one last focused while it is listed, else the first. */
export function tabStop(ids: readonly string[], current: string | null): string | null {
  return current !== null && ids.includes(current) ? current : (ids[0] ?? null);
}

/** Set when the address changed within the page (not a first load): the view shown next takes
 * the focus on its heading once it is drawn. */
let headingWanted = false;

export function viewChanged() {
  headingWanted = true;
}

/** Focuses a new view's heading, if the view was opened from within the page. */
export function focusHeading(heading: HTMLElement | null | undefined) {
  if (!headingWanted || !heading) return;
  headingWanted = false;
  if (!heading.hasAttribute('tabindex')) heading.tabIndex = -1;
  heading.focus({ preventScroll: true });
}

/** A row or card the view was left from takes the focus instead of its heading. */
export function focusPlace(element: HTMLElement | null | undefined) {
  if (!element) return;
  headingWanted = false;
  element.focus({ preventScroll: true });
}
