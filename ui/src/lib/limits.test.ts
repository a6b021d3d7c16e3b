import { describe, expect, it } from 'vitest';
import { MAX_NAME, MAX_NOTE, counted, limit } from './limits';

describe('limits on what a person types', () => {
  it('says nothing far from the limit, counts near it, refuses over it saying how much to cut', () => {
    expect(limit('short', MAX_NOTE, 'note')).toEqual({ counter: null, refusal: null });
    expect(limit('a'.repeat(9_500), MAX_NOTE, 'note')).toEqual({ counter: '9,500 / 10,000', refusal: null });
    expect(limit('a'.repeat(10_000), MAX_NOTE, 'note').refusal).toBeNull();
    const over = limit('a'.repeat(10_027), MAX_NOTE, 'note');
    expect(over.counter).toBe('10,027 / 10,000');
    expect(over.refusal).toBe('Too long to save: the note is 10,027 characters, the most is 10,000. Cut 27 characters.');
    expect(limit('b'.repeat(201), MAX_NAME, 'name').refusal).toMatch(/Cut 1 character\.$/);
  });

  it('counts as the monitor does: characters, not UTF-16 units, without surrounding whitespace', () => {
    expect(counted('  😀é  ')).toBe(2);
    expect(limit(`  ${'😀'.repeat(200)}\n\n`, MAX_NAME, 'name').refusal).toBeNull();
  });
});
