import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addEbsFaultOptions, ebsFaultsFrom, localCloudFaultArgs } from '../../cli/options.js';
import { runCli } from '../support/cli.js';

/** Parses `args` the way a command with the fault options would, and returns the faults it would inject. */
function faultsOf(prefix: string, args: string[]) {
  const command = addEbsFaultOptions(new Command('x').exitOverride(), prefix);
  command.parse(args, { from: 'user' });
  return ebsFaultsFrom(command.opts(), prefix);
}

describe('fault flags of drill, bench and local-cloud', () => {
  it("map the drill's --ebs-* flags onto the local EBS server's knobs", () => {
    const args = ['--ebs-throttle-rate', '0.3', '--ebs-error-rate', '0.05', '--ebs-latency-ms', '20'];
    args.push('--ebs-quota', '500', '--corrupt-blocks', '2', '--short-pages');
    expect(faultsOf('ebs-', args)).toEqual({
      throttleRate: 0.3,
      errorRate: 0.05,
      latencyMs: 20,
      quotaPerSnapshot: 500,
      corruptBlocks: 2,
      shortPages: true,
    });
    expect(faultsOf('ebs-', [])).toEqual({});
  });

  it("hand the bench's faults to its local-cloud process under the names local-cloud takes", () => {
    const faults = { throttleRate: 0.3, errorRate: 0.05, corruptBlocks: 1, shortPages: true };
    expect(faultsOf('', localCloudFaultArgs(faults))).toEqual(faults);
  });

  for (const [args, flag] of [
    [['drill', '--ebs-throttle-rate', '1'], '--ebs-throttle-rate'],
    [['drill', '--auto-approve', '--ebs-error-rate', '-0.1'], '--ebs-error-rate'],
    [['bench', '--ebs-throttle-rate', '1.5'], '--ebs-throttle-rate'],
    [['local-cloud', '--error-rate', 'lots'], '--error-rate'],
    [['drill', '--ebs-quota', '0'], '--ebs-quota'],
  ] as const) {
    it(`refuse ${args.join(' ')} before any work, naming the flag, exit 2`, async () => {
      const result = await runCli(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(flag);
      expect(result.stderr).not.toContain('local cloud up');
    });
  }
});
