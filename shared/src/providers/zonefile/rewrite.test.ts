import { nextSerial } from './rewrite';

describe('serial arithmetic', () => {
  const on = (iso: string) => new Date(`${iso}T12:00:00Z`);
  it('moves a date-style serial to today when today is later', () => {
    expect(nextSerial(2024010101, on('2025-03-07'))).toBe(2025030700);
  });
  it('increments a date-style serial that is already today or in the future', () => {
    expect(nextSerial(2025030700, on('2025-03-07'))).toBe(2025030701);
    expect(nextSerial(2025030799, on('2025-03-07'))).toBe(2025030800);
    expect(nextSerial(2099123105, on('2025-03-07'))).toBe(2099123106);
  });
  it('increments counters and wraps at 2^32 (RFC 1982)', () => {
    expect(nextSerial(0, on('2025-03-07'))).toBe(1);
    expect(nextSerial(41, on('2025-03-07'))).toBe(42);
    expect(nextSerial(2 ** 32 - 2, on('2025-03-07'))).toBe(2 ** 32 - 1);
    expect(nextSerial(2 ** 32 - 1, on('2025-03-07'))).toBe(0);
  });
  it('does not treat impossible dates as dates', () => {
    expect(nextSerial(2024023101, on('2025-03-07'))).toBe(2024023102);
    expect(nextSerial(1234567890, on('2025-03-07'))).toBe(1234567891);
  });
});
