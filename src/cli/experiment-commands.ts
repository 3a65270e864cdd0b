/**
 * The command names src/cli/experiments.ts handles, on their own so that src/cli/main.ts can route
 * them without loading experiments.ts (and with it vega, vega-lite, resvg, zod, bullmq) for the
 * other commands (docs/ARCHITECTURE.md, CLI: lazy loading).
 */
export const EXPERIMENT_COMMANDS = ['experiment', 'sweep', 'sweep-worker'] as const;
