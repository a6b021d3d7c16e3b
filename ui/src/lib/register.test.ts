import { describe, expect, it } from 'vitest';
import { attemptResult, nextSecretChange, reachabilityWarning, secretLabel } from './register';
import type { RegistrationAttempt, SigningSecretView } from './types';

describe('reachabilityWarning', () => {
  it('warns about addresses the provider cannot reach', () => {
    for (const url of [
      'http://127.0.0.1:8787/kyc-webhook/abc',
      'http://localhost:8787/kyc-webhook',
      'https://[::1]:8787/kyc-webhook',
      'https://192.168.1.20/kyc-webhook',
      'https://10.0.0.5/kyc-webhook',
      'https://172.20.0.1/kyc-webhook',
      'https://printer.local/kyc-webhook',
    ]) {
      expect(reachabilityWarning(url), url).toMatch(/cannot reach it/);
    }
  });

  it('asks for https on public hosts and accepts public https', () => {
    expect(reachabilityWarning('http://monitor.example.com/kyc-webhook')).toMatch(/https/);
    expect(reachabilityWarning('https://abc.trycloudflare.com/kyc-webhook/t')).toBeNull();
    expect(reachabilityWarning('https://172.32.0.1/kyc-webhook')).toBeNull();
    expect(reachabilityWarning('not a url')).toMatch(/not a URL/);
  });
});

describe('attemptResult', () => {
  const attempt = (validated: boolean | null): RegistrationAttempt => ({
    id: 1,
    attemptedAt: 0,
    webhookUrl: 'https://x',
    form: 'webhookUrl',
    apiBase: 'https://api',
    clientId: 'c',
    validated,
    message: '',
    httpStatus: null,
  });
  it('tells the three outcomes apart', () => {
    expect(attemptResult(attempt(true))).toBe('validated');
    expect(attemptResult(attempt(false))).toBe('refused');
    expect(attemptResult(attempt(null))).toBe('not-asked');
  });
});

describe('secretLabel', () => {
  const at = new Date(2026, 11, 6, 14, 0, 0).getTime();
  const view = (state: SigningSecretView['state'], validUntil: number | null): SigningSecretView => ({
    state,
    kind: 'whsec',
    fingerprint: '1a2b3c4d',
    validUntil,
  });

  it('says where each secret stands and until when', () => {
    expect(secretLabel(view('current', null), false)).toBe('Current (shared secret)');
    expect(secretLabel(view('current', null), true)).toBe('Given at start (shared secret)');
    expect(secretLabel(view('previous', at), false)).toBe('Previous, valid until 2026-12-06 14:00:00.000');
    expect(secretLabel(view('retired', at), false)).toMatch(/^Rotated out at 2026-12-06 14:00:00.000: .*refused/);
    expect(secretLabel({ ...view('current', null), kind: 'whpk' }, false)).toBe('Current (Ed25519 public key)');
  });

  it('knows when the list changes by itself: the first grace to end', () => {
    expect(nextSecretChange([view('current', null)])).toBeNull();
    expect(nextSecretChange([view('current', null), view('previous', at + 5), view('previous', at), view('retired', at - 9)])).toBe(at);
  });
});
