import type { CliIo, InputSink } from '../../src/cli/main.js';
export type FakeIo = CliIo & { out(): string; err(): string; outBytes(): Buffer };

/** An in-memory CliIo for calling main() in this process; stdin is empty unless overridden. */
export function fakeIo(overrides: Partial<CliIo> = {}): FakeIo {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (to: Buffer[]) => ({ write: (c: string | Uint8Array) => to.push(Buffer.from(c)) });
  return {
    stdout: sink(out),
    stderr: sink(err),
    attachInput: (s: InputSink) => {
      s.end();
      return () => {};
    },
    onInterrupt: () => () => {},
    ...overrides,
    out: () => Buffer.concat(out).toString('utf8'),
    err: () => Buffer.concat(err).toString('utf8'),
    outBytes: () => Buffer.concat(out),
  };
}
