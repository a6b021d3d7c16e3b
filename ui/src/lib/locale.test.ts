import { describe, expect, it } from 'vitest';
import { usableLanguage } from './locale';

describe('usableLanguage', () => {
  it('keeps a language Intl accepts, in its canonical form', () => {
    expect(usableLanguage('en-GB', 'en-US')).toBe('en-GB');
    expect(usableLanguage('de-de', 'en-US')).toBe('de-DE');
  });

  it('falls back where Intl would throw', () => {
    for (const tag of ['C', 'c.utf-8', 'en_US.UTF-8', '', undefined]) {
      expect(usableLanguage(tag, 'en-US')).toBe('en-US');
    }
    expect(() => new Intl.NumberFormat(usableLanguage('C', 'en-US'))).not.toThrow();
  });
});
