import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildAgentArtifact } from './agent-artifact.js';

/**
 * `npm run build:agent [-- <outDir>]`: writes the on-prem agent bundle (default `dist/`) and prints its path and
 * SHA-256, the line an operator compares after copying it on-prem (docs/agent.md).
 */
const outDir = resolve(process.argv[2] ?? 'dist');
mkdirSync(outDir, { recursive: true });
const built = buildAgentArtifact(outDir);
console.log(`${built.sha256}  ${built.path}`);
