// Cards moving between the board's columns: a card that leaves one column flies to its place in
// the other (a copy of it moves above the page, as the card fades in there), and the cards
// around make room (FLIP). Only for a few changes at once: a burst is laid in without motion,
// and so is everything when the person asked for reduced motion (no movement at all then).
import { tick } from 'svelte';

/** More changes than this in one frame are laid in without motion. */
export const FEW_CHANGES = 8;
const DURATION = 420;
const EASING = 'cubic-bezier(0.2, 0.7, 0.2, 1)';
/** Changes that come sooner than this after the last ones are a stream: laid in without motion. */
const CALM_MS = 250;
let lastChangesAt = -Infinity;

export function reducedMotion(): boolean {
  return typeof matchMedia === 'function' && matchMedia('(prefers-reduced-motion: reduce)').matches;
}

/** Where each card in `root` is now, by externalId. */
function cardPlaces(root: ParentNode): Map<string, DOMRect> {
  const places = new Map<string, DOMRect>();
  for (const card of root.querySelectorAll<HTMLElement>('[data-testid="card"][data-external-id]')) {
    places.set(card.dataset.externalId ?? '', card.getBoundingClientRect());
  }
  return places;
}

/** Lays `changed` users in with `apply` (which must change the board at once) and moves the
 * cards by hand (FLIP): a card that changed column flies there as a copy drawn above the page,
 * a new user fades in, and the cards around slide to make room. Nothing is measured or moved
 * for a burst (more than a few changes at once, or changes that keep coming) or when the person
 * asked for reduced motion, so that a burst costs no layout reads per card. */
export async function moveCards(root: ParentNode | undefined, changed: string[], apply: () => void): Promise<void> {
  const now = performance.now();
  const calm = now - lastChangesAt > CALM_MS;
  lastChangesAt = now;
  if (!root || !calm || changed.length === 0 || changed.length > FEW_CHANGES || reducedMotion()) {
    apply();
    return;
  }
  const before = cardPlaces(root);
  apply();
  await tick();
  const moved = new Set(changed);
  for (const card of root.querySelectorAll<HTMLElement>('[data-testid="card"][data-external-id]')) {
    const id = card.dataset.externalId ?? '';
    const from = before.get(id);
    const to = card.getBoundingClientRect();
    if (!from) {
      if (moved.has(id)) {
        card.animate([{ opacity: 0, transform: 'translateY(-8px)' }, { opacity: 1, transform: 'none' }], { duration: DURATION / 2, easing: EASING });
      }
      continue;
    }
    const dx = from.left - to.left;
    const dy = from.top - to.top;
    if (dx === 0 && dy === 0) continue;
    if (moved.has(id) && Math.abs(dx) > to.width / 2) {
      // Another column: a copy flies across, and the card shows once it lands.
      fly(card, from);
      card.animate([{ opacity: 0 }, { opacity: 0, offset: 0.85 }, { opacity: 1 }], { duration: DURATION });
    } else {
      card.animate([{ transform: `translate(${dx}px, ${dy}px)` }, { transform: 'none' }], { duration: DURATION * 0.6, easing: EASING });
    }
  }
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
    { duration: DURATION, easing: EASING },
  );
  flight.onfinish = flight.oncancel = () => ghost.remove();
}
