// The top bar's layout as laid out in the browser: whether its items have room.

/** The top bar's items as laid out: its children, those of the endpoint and the signed-in
 * person in their stead (what is hidden or empty left out). */
function topBarItems(page) {
  return page.locator('header.topbar').evaluate((bar) => {
    const items = [...bar.children].flatMap((child) => (child.matches('.endpoint, .who') ? [...child.children] : [child]));
    return items
      .map((item) => ({ item, box: item.getBoundingClientRect() }))
      .filter(({ box }) => box.width > 0 && box.height > 0)
      .map(({ item, box }) => ({
        name: item.dataset.testid ?? (item.className || item.tagName.toLowerCase()),
        left: box.left, right: box.right, top: box.top, bottom: box.bottom,
        clipped: item.scrollWidth > item.clientWidth + 1 && getComputedStyle(item).textOverflow !== 'ellipsis',
      }));
  });
}

/** Pairs of the top bar's items closer than `gap` px side by side on the same line, items past
 * the window's edge, and items whose content spills out of them. */
export async function crowding(page, gap = 6) {
  const items = await topBarItems(page);
  const width = page.viewportSize().width;
  const found = [];
  for (const [n, a] of items.entries()) {
    if (a.right > width + 0.5 || a.left < -0.5) found.push(`${a.name} is outside the window (${a.left}-${a.right} of ${width})`);
    if (a.clipped) found.push(`${a.name}'s content spills out of it`);
    for (const b of items.slice(n + 1)) {
      const sameLine = a.top < b.bottom && b.top < a.bottom;
      const apart = Math.max(a.left, b.left) - Math.min(a.right, b.right);
      if (sameLine && apart < gap) found.push(`${a.name} and ${b.name} are ${apart.toFixed(1)} px apart`);
    }
  }
  return found;
}
