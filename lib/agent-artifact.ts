import { join } from 'node:path';
import { bundleCliEntry } from './gateway-artifact.js';

/** The agent's entry: `homebound agent` only (cli/agent-artifact.ts). */
export const AGENT_ENTRY = 'cli/agent-artifact.ts';
/** The artifact's file name; docs/agent.md installs it as /opt/homebound/homebound-agent.mjs. */
export const AGENT_ARTIFACT_FILE = 'homebound-agent.mjs';

/**
 * Bundles the on-prem agent into `<outDir>/homebound-agent.mjs`, built like the sync gateway's bundle: one ESM file
 * for Node 22 with every dependency inside, so the on-prem host needs Node and this file, no node_modules.
 * @returns the file and its SHA-256 (hex), for the operator to check after copying it on-prem
 * @throws esbuild's error when the sources do not bundle
 */
export function buildAgentArtifact(outDir: string): { path: string; sha256: string } {
  return bundleCliEntry(AGENT_ENTRY, join(outDir, AGENT_ARTIFACT_FILE));
}
