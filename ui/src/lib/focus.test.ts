import { describe, expect, it } from 'vitest';
import { rovingTarget, tabStop } from './focus';

describe('rovingTarget', () => {
  const ids = ['a', 'b', 'c'];
  it('moves one item with the arrows, stopping at the ends', () => {
    expect(rovingTarget('ArrowDown', ids, 'a')).toBe('b');
    expect(rovingTarget('ArrowDown', ids, 'c')).toBe('c');
    expect(rovingTarget('ArrowUp', ids, 'b')).toBe('a');
    expect(rovingTarget('ArrowUp', ids, 'a')).toBe('a');
  });
  it('jumps to the first and last with Home and End', () => {
    expect(rovingTarget('Home', ids, 'c')).toBe('a');
    expect(rovingTarget('End', ids, 'a')).toBe('c');
  });
  it('leaves other keys and empty lists alone', () => {
    expect(rovingTarget('Enter', ids, 'a')).toBeNull();
    expect(rovingTarget('ArrowDown', [], null)).toBeNull();
  });
  it('starts from the first item when the current one has left', () => {
    expect(rovingTarget('ArrowDown', ids, 'gone')).toBe('a');
  });
});

describe('tabStop', () => {
  it('is the item last focused while it is listed, else the first', () => {
    expect(tabStop(['a', 'b'], 'b')).toBe('b');
    expect(tabStop(['a', 'b'], 'gone')).toBe('a');
    expect(tabStop([], null)).toBeNull();
  });
});
