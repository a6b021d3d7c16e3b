import { describe, expect, it } from 'vitest';
import { attemptResult, reachabilityWarning } from './register';
import type { RegistrationAttempt } from './types';

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
