import { SingleBar } from 'cli-progress';
import type { LocalRunEvent } from '../../core/orchestration/local-runner.js';
import type { BlockSource } from '../../core/ports.js';

const MiB = 1024 * 1024;

/** Counts what the streamer lists and reads, for the progress bar of the pass in flight. */
export class CountingBlockSource implements BlockSource {
  listed = 0;
  read = 0;
  constructor(private readonly inner: BlockSource) {}
  async listSnapshotBlocks(...args: Parameters<BlockSource['listSnapshotBlocks']>) {
    const page = await this.inner.listSnapshotBlocks(...args);
    this.listed += page.blocks.length;
    return page;
  }
  async listChangedBlocks(...args: Parameters<BlockSource['listChangedBlocks']>) {
    const page = await this.inner.listChangedBlocks(...args);
    this.listed += page.blocks.length;
    return page;
  }
  async getSnapshotBlock(...args: Parameters<BlockSource['getSnapshotBlock']>) {
    const block = await this.inner.getSnapshotBlock(...args);
    this.read++;
    return block;
  }
}

/** What the drill says while the state machine works: one line per step that matters, a bar while a pass streams. */
export class DrillProgress {
  private bar: SingleBar | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly source: CountingBlockSource,
    private readonly say: (line: string) => void,
    private readonly interactive: boolean,
  ) {}

  onEvent(event: LocalRunEvent): void {
    if (event.type === 'StateEntered' && event.mapIndex === undefined) this.entered(event.stateName, event.input);
    if (event.type === 'StateExited' && event.mapIndex !== undefined) this.exitedInWave(event.stateName, event.output);
    if (event.type === 'StateExited' && event.mapIndex === undefined) this.exited(event.stateName, event.output);
    if (event.type === 'StateRetried') this.say(`  ↻ ${event.stateName} failed transiently; retry ${event.attempt}`);
    if (event.type === 'StateCaught') this.say(`  ✗ ${event.stateName} failed; → ${event.next}`);
  }

  stop(): void {
    this.stopBar();
  }

  private entered(state: string, input: unknown): void {
    const lines: Record<string, string> = {
      ValidateRequest: 'validating the request',
      PrepareTarget: 'creating target volumes and the sync gateway',
      LaunchFailbackHosts: 'launching the failback hosts for verification, wave by wave',
      RequestApproval: 'waiting for cutover approval',
      StopTakeoverHosts: 'stopping the takeover hosts, last wave first (business suspended)',
      StartFailbackWaves: 'cutover: starting the failback hosts wave by wave, each wave healthy before the next',
      VerificationBootWaves: 'verification boot of the on-prem failback hosts, wave by wave',
      CutoverWaves:
        'cutover: the agent starts the on-prem failback hosts wave by wave, each wave healthy before the next',
      VerifyFailback: 'verifying the failback hosts',
      Rollback: 'rolling back: failback hosts stop',
      RestartTakeoverHosts: 'restarting the takeover hosts, first wave first',
      CleanUp: 'cleaning up the gateway, snapshots and staging',
      CleanUpAfterRetireFailure: 'cleaning up the gateway, snapshots and staging (the failback hosts serve)',
      CleanUpAfterRollback: 'cleaning up the gateway, snapshots and staging after the rollback',
    };
    if (lines[state]) this.say(lines[state]);
    if (state === 'StreamPass') this.startBar(input);
  }

  /**
   * One line per wave of the cutover's Maps, once a step of the wave has ended (not when a state is entered: after a
   * failed wave the library still enters the next wave's first state, whose Task the runner then never starts).
   */
  private exitedInWave(state: string, output: unknown): void {
    const lines: Record<string, string> = {
      WaveLaunched: 'failback hosts launched',
      WaveBooted: 'failback hosts booted on their disks and off again',
      TakeoverWaveStopped: 'takeover hosts stopped',
      Cutover: 'target volumes moved to its failback hosts, which start',
      CutoverOnPrem: 'the agent started its failback hosts',
      WaveHealthy: 'healthy: every check passed',
      WaveHandedToOperator: 'handed to the operator',
      TakeoverWaveRunning: 'takeover hosts run again',
    };
    const wave = (output as { wave?: unknown } | null)?.wave;
    if (lines[state] && typeof wave === 'number') this.say(`  wave ${wave}: ${lines[state]}`);
  }

  private exited(state: string, output: unknown): void {
    if (state === 'StreamPass') this.stopBar();
    if (state !== 'RecordPass') return;
    const record = output as {
      pass?: StatePass & { startedAt?: string };
      progress?: { reason: string; blocksListed?: number; bytesChanged?: number; bytesStaged?: number };
    };
    const pass = record.pass;
    if (!pass) return;
    // The pass's totals come from RecordPass: StreamPass's results are in S3 (its Distributed Map's ResultWriter).
    const blocks = record.progress?.blocksListed ?? 0;
    const changed = record.progress?.bytesChanged ?? 0;
    const staged = record.progress?.bytesStaged ?? 0;
    const seconds = pass.startedAt ? (Date.now() - Date.parse(pass.startedAt)) / 1000 : 0;
    const rate = seconds > 0 ? `${(changed / MiB / seconds).toFixed(1)} MiB/s` : '';
    this.say(
      `  pass ${pass.number} (${passKind(pass)}): ${blocks} blocks, ${mib(changed)} changed, ${mib(staged)} staged, applied in ${seconds.toFixed(1)} s (${rate}) — ${record.progress?.reason ?? ''}`,
    );
  }

  private startBar(input: unknown): void {
    const pass = (input as { pass?: StatePass }).pass;
    const label = pass ? `pass ${pass.number} (${passKind(pass)})` : 'pass';
    const listed = this.source.listed;
    const read = this.source.read;
    const started = performance.now();
    if (!this.interactive) {
      this.say(`  streaming ${label}`);
      return;
    }
    this.bar = new SingleBar({
      format: `  ${label} [{bar}] {value}/{total} blocks · {mib} MiB · {rate} MiB/s`,
      hideCursor: true,
      clearOnComplete: false,
    });
    this.bar.start(1, 0, { mib: '0.0', rate: '0.0' });
    this.timer = setInterval(() => {
      const blocks = this.source.read - read;
      const mib = (blocks * 0.5).toFixed(1);
      const seconds = (performance.now() - started) / 1000;
      this.bar?.setTotal(Math.max(1, this.source.listed - listed));
      this.bar?.update(blocks, { mib, rate: seconds > 0 ? ((blocks * 0.5) / seconds).toFixed(1) : '0.0' });
    }, 100);
  }

  private stopBar(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.bar?.stop();
    this.bar = undefined;
  }
}

export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/** The state's pass, as far as the progress lines read it. */
interface StatePass {
  readonly number: number;
  readonly kind: string;
  readonly final: boolean;
  readonly snapshots?: readonly { readonly seed?: unknown }[];
}

/** `final`, `seeded` (the state says `full`; StreamPass plans a first pass whose volumes have seeds as seeded), or the
 * state's kind. */
function passKind(pass: StatePass): string {
  if (pass.final) return 'final';
  return pass.snapshots?.some((snapshot) => snapshot.seed !== undefined) ? 'seeded' : pass.kind;
}
