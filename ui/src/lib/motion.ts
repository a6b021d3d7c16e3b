// Cards moving between the board's columns: a card that leaves one column flies to its place in
// the other (a copy of it moves above the page, as the card fades in there), and the cards
// around make room (FLIP). Only for a few changes at once: a burst is laid in without motion,
// and so is everything when the person asked for reduced motion (no movement at all then).
import { flip, type AnimationConfig } from 'svelte/animate';
import { cubicOut } from 'svelte/easing';
import type { TransitionConfig } from 'svelte/transition';

/** More changes than this in one frame are laid in without motion. */
export const FEW_CHANGES = 8;
const DURATION = 420;

let moving = false;
/** Where each card that just left a column was, by externalId, for its counterpart to fly from. */
const departed = new Map<string, DOMRect>();

export function reducedMotion(): boolean {
  return typeof matchMedia === 'function' && matchMedia('(prefers-reduced-motion: reduce)').matches;
}

/** Tells what the next update of the board is: `changes` live changes (they move if few), or
 * a page loaded (0: nothing moves). */
export function nextUpdate(changes: number): void {
  moving = changes > 0 && changes <= FEW_CHANGES && !reducedMotion();
}

const STILL: TransitionConfig = { duration: 0 };

/** out: a card leaves its column. It goes at once; where it was is kept for its counterpart. */
export function cardLeaves(node: Element, { key }: { key: string }): TransitionConfig {
  if (!moving) return STILL;
  departed.set(key, node.getBoundingClientRect());
  // Kept for the counterpart's intro in this update only.
  requestAnimationFrame(() => departed.delete(key));
  return STILL;
}

/** in: a card enters a column. From where it left another column, a copy of it flies here; a
 * new user fades in. */
export function cardEnters(node: Element, { key }: { key: string }): TransitionConfig | (() => TransitionConfig) {
  if (!moving) return STILL;
  // Asked after the whole update is laid out, so the counterpart has left by then.
  return () => {
    const from = departed.get(key);
    departed.delete(key);
    if (!from) return { duration: DURATION / 2, easing: cubicOut, css: (t) => `opacity: ${t}; transform: translateY(${(1 - t) * -8}px)` };
    fly(node as HTMLElement, from);
    return { duration: DURATION, css: (t) => `opacity: ${t < 0.85 ? 0 : (t - 0.85) / 0.15}` };
  };
}

/** A copy of `node` (its new look), above the page, from `from` to where `node` is now. */
function fly(node: HTMLElement, from: DOMRect) {
  const to = node.getBoundingClientRect();
  const ghost = node.cloneNode(true) as HTMLElement;
  for (const element of [ghost, ...ghost.querySelectorAll('*')]) {
    element.removeAttribute('data-testid');
    element.removeAttribute('data-external-id');
    element.removeAttribute('href');
    element.removeAttribute('id');
  }
  ghost.setAttribute('aria-hidden', 'true');
  ghost.classList.add('card-flight');
  Object.assign(ghost.style, {
    position: 'fixed',
    left: `${from.left}px`,
    top: `${from.top}px`,
    width: `${from.width}px`,
    margin: '0',
    zIndex: '20',
    pointerEvents: 'none',
  });
  document.body.append(ghost);
  const flight = ghost.animate(
    [{ transform: 'translate(0, 0)' }, { transform: `translate(${to.left - from.left}px, ${to.top - from.top}px)` }],
    { duration: DURATION, easing: 'cubic-bezier(0.2, 0.7, 0.2, 1)' },
  );
  flight.onfinish = flight.oncancel = () => ghost.remove();
}

/** animate: the cards that stay slide to their new places. */
export function cardMakesRoom(node: Element, fromTo: { from: DOMRect; to: DOMRect }): AnimationConfig {
  return moving ? flip(node, fromTo, { duration: DURATION * 0.6 }) : { duration: 0 };
}
