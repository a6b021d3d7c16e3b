// What the search box asks and says. Whitespace around a query is ignored (README: "Finding a
// user"): a query of only spaces is an empty one. A long query (5,000 characters typed or
// pasted) is shortened where the page repeats it, so that it never spills across the page.

/** The text to look up for what is in the box. */
export function needle(query: string): string {
  return query.trim();
}

/** The longest part of a query the "nothing found" line repeats. */
export const SHOWN_QUERY = 60;

/** `text` as the "nothing found" line repeats it: at most `max` characters, then an ellipsis. */
export function shownQuery(text: string, max = SHOWN_QUERY): string {
  const chars = [...text];
  return chars.length > max ? `${chars.slice(0, max).join('')}…` : text;
}
