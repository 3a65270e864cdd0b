/**
 * Writes docs/vm-config.schema.json, the JSON Schema of the VM definition file, from the zod schema
 * the loader uses (src/hypervisor/config.ts). `npm run schema`; test/hypervisor/config.test.ts
 * fails when the committed file is stale.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { vmConfigJsonSchema } from '../src/hypervisor/config.js';
import { packageRoot } from '../src/cli/main.js';

const out = join(packageRoot(), 'docs', 'vm-config.schema.json');
writeFileSync(out, JSON.stringify(vmConfigJsonSchema(), null, 2) + '\n');
console.log(`wrote ${out}`);
