// WebKitGTK reports the POSIX locale as `navigator.language` when LANG is unset or "C" (as on a
// server, or a CI machine): "C", which Intl refuses with a RangeError. Libraries that build an
// Intl formatter from `navigator.language` while they load (uPlot does) would then fail to load,
// and with them the whole page. `main.ts` imports this module first, so that the page sees a
// language Intl accepts: the engine's own default.

/** `tag` if Intl accepts it, otherwise `fallback`. */
export function usableLanguage(tag: string | undefined, fallback: string): string {
  if (!tag) return fallback;
  try {
    return Intl.getCanonicalLocales(tag)[0] ?? fallback;
  } catch {
    return fallback;
  }
}

if (typeof navigator !== 'undefined') {
  const fallback = new Intl.NumberFormat().resolvedOptions().locale;
  const language = usableLanguage(navigator.language, fallback);
  if (language !== navigator.language) {
    Object.defineProperty(navigator, 'language', { value: language, configurable: true });
  }
}
