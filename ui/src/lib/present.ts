// Projector mode, for a demo on a big screen: larger type everywhere. `?present` in the address
// turns it on (so a bookmark or a reload keeps it); the demo summary's toggle writes it there.

export function presenting(): boolean {
  return new URLSearchParams(location.search).has('present');
}

export function showPresenting(on: boolean) {
  document.documentElement.classList.toggle('present', on);
}

/** Turns projector mode on or off, keeping the rest of the address (token, view) as it is. */
export function setPresenting(on: boolean) {
  const url = new URL(location.href);
  if (on) url.searchParams.set('present', '');
  else url.searchParams.delete('present');
  history.replaceState(history.state, '', url.href);
  showPresenting(on);
}
