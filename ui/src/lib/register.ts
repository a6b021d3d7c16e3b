// What the Register view decides without asking the monitor.
import { exactTime } from './format';
import type { RegistrationAttempt, SigningSecretView } from './types';

/** Why the provider could not deliver to `url`, or null when it looks reachable from the internet. */
export function reachabilityWarning(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'This is not a URL.';
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const local =
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host.endsWith('.local') ||
    host === '::1' ||
    /^127\./.test(host) ||
    /^10\./.test(host) ||
    /^192\.168\./.test(host) ||
    /^172\.(1[6-9]|2\d|3[01])\./.test(host) ||
    /^169\.254\./.test(host) ||
    /^(fc|fd)[0-9a-f]{2}:/i.test(host) ||
    host === '0.0.0.0';
  if (local) {
    return 'This address is on this machine or its local network: the provider cannot reach it. Start a tunnel, or use the public URL of your own proxy. (The demo emulator runs here, so it can.)';
  }
  if (parsed.protocol !== 'https:') return 'The provider only calls https:// URLs.';
  return null;
}

export type AttemptResult = 'validated' | 'refused' | 'not-asked';

export function attemptResult(attempt: RegistrationAttempt): AttemptResult {
  if (attempt.validated === true) return 'validated';
  if (attempt.validated === false) return 'refused';
  return 'not-asked';
}

export const ATTEMPT_LABELS: Record<AttemptResult, string> = {
  validated: 'Validated',
  refused: 'Not validated',
  'not-asked': 'Not registered',
};

/** What the signing-secrets list says of one secret: never the secret, only where it stands. */
export function secretLabel(secret: SigningSecretView, given: boolean): string {
  const kind = secret.kind === 'whpk' ? 'Ed25519 public key' : 'shared secret';
  switch (secret.state) {
    case 'current':
      return given ? `Given at start (${kind})` : `Current (${kind})`;
    case 'previous':
      return `Previous, valid until ${exactTime(secret.validUntil ?? 0)}`;
    case 'retired':
      return `Rotated out at ${exactTime(secret.validUntil ?? 0)}: deliveries signed with it are refused, saying so`;
  }
}

/** When the list changes by itself: the end of the first grace still running. */
export function nextSecretChange(secrets: SigningSecretView[]): number | null {
  const ends = secrets
    .filter((s) => s.state === 'previous' && s.validUntil !== null)
    .map((s) => s.validUntil as number);
  return ends.length ? Math.min(...ends) : null;
}
