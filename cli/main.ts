import { Command } from 'commander';
import { tuneHeapForStreaming } from '../core/heap-tuning.js';
import { reportError } from './report-error.js';
import { homeboundVersion } from './version.js';

tuneHeapForStreaming();

const program = new Command()
  .name('homebound')
  .description('Move production home from AWS takeover hosts, block by block, losing nothing.')
  .version(homeboundVersion(), '-V, --version', 'print the version and exit')
  // One line of error and a pointer, not the whole help page the error would scroll away under.
  .showHelpAfterError("(add --help for the command's options)")
  .exitOverride();

/**
 * Each command's module, loaded only when it runs: a command pulls in its own part of homebound (the gateway does not
 * need the local cloud, `estimate` no SDK client), and loading every module costs about 2 s of CPU per start — paid
 * by each gateway and agent process a drill starts. In help order.
 */
const commands: Record<string, () => Promise<(program: Command) => void>> = {
  drill: async () => (await import('./commands/drill.js')).registerDrill,
  'local-cloud': async () => (await import('./commands/local-cloud.js')).registerLocalCloud,
  stream: async () => (await import('./commands/stream.js')).registerStream,
  apply: async () => (await import('./commands/apply.js')).registerApply,
  bench: async () => (await import('./commands/bench.js')).registerBench,
  gateway: async () => (await import('./commands/gateway.js')).registerGateway,
  agent: async () => (await import('./commands/agent.js')).registerAgent,
  start: async () => (await import('./commands/start.js')).registerStart,
  status: async () => (await import('./commands/status.js')).registerStatus,
  estimate: async () => (await import('./commands/estimate.js')).registerEstimate,
};

// `homebound <command> …` registers that command alone; anything else (help, --version, a mistyped name, which
// commander answers with a suggestion) registers all of them.
const named = process.argv[2];
const load = named !== undefined && Object.hasOwn(commands, named) ? commands[named] : undefined;
try {
  for (const register of await Promise.all(load ? [load()] : Object.values(commands).map((next) => next()))) {
    register(program);
  }
} catch (error) {
  process.exitCode = reportError(error);
  process.exit();
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = reportError(error);
}
