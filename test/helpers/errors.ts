import { expect } from 'vitest';
import { UserError } from '../../src/errors.js';

/** Run fn, which must throw a UserError (exit code 2) whose message is one line; return it. */
export function userErrorOf(fn: () => unknown): UserError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    const u = e as UserError;
    expect(u.code).toBe(2);
    expect(u.message).not.toContain('\n');
    return u;
  }
  throw new Error('expected a UserError, nothing was thrown');
}

/** The one-line message of the UserError fn throws. */
export function errorOf(fn: () => unknown): string {
  return userErrorOf(fn).message;
}
