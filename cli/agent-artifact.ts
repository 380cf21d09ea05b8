import { Command } from 'commander';
import { tuneHeapForStreaming } from '../core/heap-tuning.js';
import { registerAgent } from './commands/agent.js';
import { reportError } from './report-error.js';

/**
 * The entry of the on-prem agent artifact (lib/agent-artifact.ts bundles it with esbuild into one file that needs no
 * node_modules): `homebound agent` and nothing else, so the bundle carries neither the local cloud nor the drill.
 * Same options, output and exit codes as the full CLI.
 */
const [major] = process.versions.node.split('.').map(Number);
if ((major ?? 0) < 22) {
  console.error(`homebound agent needs Node.js 22 or newer (this is ${process.version})`);
  process.exit(1);
}

tuneHeapForStreaming();

const program = new Command()
  .name('homebound')
  .description('homebound on-prem agent: answers the failback activity and applies staged passes to on-prem disks.')
  .showHelpAfterError()
  .exitOverride();
registerAgent(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = reportError(error);
}
