import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    pool: 'forks',
    // Builds build/core.wasm and dist/ once when missing or older than their sources.
    globalSetup: ['test/global-setup.ts'],
  },
});
