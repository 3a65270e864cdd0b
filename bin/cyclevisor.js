#!/usr/bin/env node
// cyclevisor launcher: runs the compiled CLI (dist/, built by `npm run build`) and exits with its code.
let main;
try {
  ({ main } = await import('../dist/src/cli/main.js'));
} catch (e) {
  const missing = e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist');
  process.stderr.write(
    missing
      ? 'cyclevisor: not built yet (dist/ is missing): run `npm run build`\n'
      : `cyclevisor: internal error: cannot load the CLI: ${e && e.message ? e.message : e}\n`,
  );
  process.exit(70);
}
process.exit(await main(process.argv.slice(2)));
