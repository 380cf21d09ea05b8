import { Command, CommanderError } from 'commander';
import { HomeboundError } from '../core/errors.js';
import { registerApply } from './commands/apply.js';
import { registerBench } from './commands/bench.js';
import { registerDrill } from './commands/drill.js';
import { registerGateway } from './commands/gateway.js';
import { registerLocalCloud } from './commands/local-cloud.js';
import { registerStart } from './commands/start.js';
import { registerStatus } from './commands/status.js';
import { registerStream } from './commands/stream.js';

const program = new Command()
  .name('homebound')
  .description('Move production home from AWS takeover hosts, block by block, losing nothing.')
  .showHelpAfterError()
  .exitOverride();

registerDrill(program);
registerLocalCloud(program);
registerStream(program);
registerApply(program);
registerBench(program);
registerGateway(program);
registerStart(program);
registerStatus(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = reportError(error);
}

/** One place that turns any failure into a message an operator can act on and a non-zero exit code. */
function reportError(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (error instanceof HomeboundError) {
    console.error(`homebound: ${error.name}: ${error.message}`);
    return 3;
  }
  console.error(`homebound: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  return 1;
}
