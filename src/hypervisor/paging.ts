/**
 * Paging modes of a VM (issue 11; docs/PAGING.md): plain constants, so the configuration parser
 * (config.ts) needs nothing of the VMM.
 */
export type PagingMode = 'nested' | 'shadow';
/** Shadow pages a VM gets when its definition has no `shadow_pages` (8 MiB of shadow tables). */
export const DEFAULT_SHADOW_PAGES = 2048;
export const MIN_SHADOW_PAGES = 16;
export const MAX_SHADOW_PAGES = 16384;
