// The monitor's limits on what a person types (a note, an assignee's name), shown before they
// are reached: the page never cuts a pasted text silently (an append-only note cut mid-word
// stays so forever); it counts near the limit and refuses, saying how much to cut, when over.

/** The longest note, as the monitor allows it (`MAX_NOTE` in monitor/cases.rs). */
export const MAX_NOTE = 10_000;
/** The longest assignee name (`MAX_NAME` in monitor/cases.rs). */
export const MAX_NAME = 200;

/** How the monitor counts a text: characters (code points), without surrounding whitespace. */
export function counted(text: string): number {
  return [...text.trim()].length;
}

export type Limit = {
  /** What to show next to the box: nothing until the text is near the limit. */
  counter: string | null;
  /** Over the limit: why the button is disabled and how much to cut. */
  refusal: string | null;
};

/** The counter and refusal for `text` under `max`; `what` names it ("note", "name"). */
export function limit(text: string, max: number, what: string): Limit {
  const length = counted(text);
  const n = (value: number) => value.toLocaleString('en-US');
  if (length > max) {
    const cut = length - max;
    return {
      counter: `${n(length)} / ${n(max)}`,
      refusal: `Too long to save: the ${what} is ${n(length)} characters, the most is ${n(max)}. Cut ${n(cut)} character${cut === 1 ? '' : 's'}.`,
    };
  }
  return { counter: length >= max * 0.9 ? `${n(length)} / ${n(max)}` : null, refusal: null };
}
