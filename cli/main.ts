import { Command } from 'commander';
import { tuneHeapForStreaming } from '../core/heap-tuning.js';
import { registerAgent } from './commands/agent.js';
import { registerApply } from './commands/apply.js';
import { registerBench } from './commands/bench.js';
import { registerDrill } from './commands/drill.js';
import { registerEstimate } from './commands/estimate.js';
import { registerGateway } from './commands/gateway.js';
import { registerLocalCloud } from './commands/local-cloud.js';
import { registerStart } from './commands/start.js';
import { registerStatus } from './commands/status.js';
import { registerStream } from './commands/stream.js';
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

registerDrill(program);
registerLocalCloud(program);
registerStream(program);
registerApply(program);
registerBench(program);
registerGateway(program);
registerAgent(program);
registerStart(program);
registerStatus(program);
registerEstimate(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = reportError(error);
}
