import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { dirname } from 'node:path';
import { cpuMsSince, perMiB } from './cpu.js';

/** Where a pass's CPU goes; the stages of issue 16, plus what the profile cannot place. */
export const STAGES = [
  'receive',
  'hash',
  'segment',
  'upload',
  'download',
  'verify',
  'spool',
  'write',
  'gc',
  'other main thread',
  'other threads',
] as const;
export type Stage = (typeof STAGES)[number];

/** CPU per stage over one pass: ms and ms per MiB read. */
export type StageFigures = Readonly<Record<Stage, { readonly cpuMs: number; readonly cpuPerMiBMs: number }>>;

/** The part of a pass a sample fell in: streaming (read, hash, segment, upload) or applying (download, verify, write). */
type Phase = 'stream' | 'apply';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
  readonly children?: number[];
}
interface Profile {
  readonly nodes: ProfileNode[];
  readonly samples?: number[];
  readonly timeDeltas?: number[];
}

/** Functions that mark a stage wherever they are on the stack (the one nearest the sample wins). */
const ANCHORS: readonly [Stage, (name: string, url: string) => boolean][] = [
  ['verify', (n) => ['verifySegmentBody', 'verifySegment', 'segmentChecksAlone', 'parseVerified'].includes(n)],
  ['verify', (n, u) => n === 'find' && u.endsWith('segment-spool.ts')],
  ['spool', (n, u) => n === 'put' && u.endsWith('segment-spool.ts')],
  ['segment', (n) => ['encodeDigestedSegment', 'isAllZero', 'SegmentBuffer', 'recordFor'].includes(n)],
  ['write', (n) => ['applySpooled', 'decodeSegment'].includes(n)],
  ['write', (_n, u) => u.endsWith('file-target.ts')],
  ['hash', (n, u) => n === 'sha256' && u.endsWith('blocks.ts')],
  ['upload', (n) => ['writeRequestBody', 'writeBody', 'sendWithBody'].includes(n)],
  ['upload', (n, u) => n === 'put' && u.endsWith('s3-staging.ts')],
  ['download', (n, u) => n === 'get' && u.endsWith('s3-staging.ts')],
  ['receive', (n) => n === 'getSnapshotBlock'],
];

/** Code that moves bytes over HTTP (Node's sockets and streams, the SDKs, homebound's transport): receive while
 * streaming, download after. */
const HTTP_URL =
  /^node:(_http|net|stream|internal\/streams|internal\/stream_base)|\/node_modules\/@(smithy|aws-sdk)\/|\/direct-http-handler\.ts$/;

/**
 * Profiles one pass with V8's sampling profiler in this process and splits its CPU by stage. The samples place the
 * main thread's time (nearest stage-marking function on the stack; plain HTTP and SDK code counts as receive while
 * streaming and download while applying); their shares are scaled to the main thread's measured CPU
 * (/proc/self/task/<pid>/stat), and what other threads of the process used (libuv's pool: file writes, fdatasync) is
 * its own line. Only for `bench --profile-stages`: the profiler costs CPU itself.
 */
export class StageProfiler {
  private readonly session = new Session();
  private readonly profiles: [Phase, Profile][] = [];
  private phase: Phase = 'stream';
  private cpuBefore = process.cpuUsage();
  private mainBefore = 0;

  async start(): Promise<void> {
    this.session.connect();
    await this.session.post('Profiler.enable');
    await this.session.post('Profiler.setSamplingInterval', { interval: 250 });
    this.cpuBefore = process.cpuUsage();
    this.mainBefore = mainThreadCpuMs();
    await this.session.post('Profiler.start');
  }

  /** The pass has been streamed and sealed; what follows is applying it. */
  async applying(): Promise<void> {
    await this.collect();
    this.phase = 'apply';
    await this.session.post('Profiler.start');
  }

  /** Stops profiling and splits the pass's CPU; with `saveAs`, also writes the raw profiles there
   * (`<saveAs>-stream.cpuprofile`, `<saveAs>-apply.cpuprofile`, for Chrome DevTools). */
  async stop(bytesRead: number, saveAs?: string): Promise<StageFigures> {
    // Read before the profile is serialized: that is the profiler's CPU, not the pass's.
    const processMs = cpuMsSince(this.cpuBefore);
    const mainMs = mainThreadCpuMs() - this.mainBefore;
    await this.collect();
    if (saveAs) {
      await mkdir(dirname(saveAs), { recursive: true });
      for (const [phase, profile] of this.profiles)
        await writeFile(`${saveAs}-${phase}.cpuprofile`, JSON.stringify(profile));
    }
    this.session.disconnect();
    const sampled = new Map<Stage, number>(STAGES.map((stage) => [stage, 0]));
    for (const [phase, profile] of this.profiles) {
      for (const [stage, micros] of classify(profile, phase)) sampled.set(stage, (sampled.get(stage) ?? 0) + micros);
    }
    const sampledTotal = [...sampled.values()].reduce((sum, micros) => sum + micros, 0);
    const scale = sampledTotal > 0 ? mainMs / sampledTotal : 0;
    const figures = Object.fromEntries(
      STAGES.map((stage) => {
        const cpuMs = stage === 'other threads' ? Math.max(0, processMs - mainMs) : (sampled.get(stage) ?? 0) * scale;
        return [stage, { cpuMs, cpuPerMiBMs: perMiB(cpuMs, bytesRead) }];
      }),
    );
    return figures as StageFigures;
  }

  private async collect(): Promise<void> {
    const { profile } = (await this.session.post('Profiler.stop')) as { profile: Profile };
    this.profiles.push([this.phase, profile]);
  }
}

/** Microseconds of (non-idle) samples per stage. */
function classify(profile: Profile, phase: Phase): Map<Stage, number> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const stageOf = new Map<number, Stage | undefined>();
  const place = (id: number): Stage | undefined => {
    if (stageOf.has(id)) return stageOf.get(id);
    const node = byId.get(id);
    let stage: Stage | undefined;
    if (node) {
      const { functionName: name, url } = node.callFrame;
      if (name === '(idle)') stage = undefined;
      else if (name === '(garbage collector)') stage = 'gc';
      else {
        const anchor = ANCHORS.find(([, matches]) => matches(name, url))?.[0];
        const above = parent.has(id) ? place(parent.get(id) as number) : undefined;
        // A hash inside verification or segment encoding belongs to that stage; otherwise the nearest anchor wins.
        if (anchor === 'hash' && (above === 'verify' || above === 'segment')) stage = above;
        else stage = anchor ?? above;
        if (stage === undefined && HTTP_URL.test(url)) stage = phase === 'stream' ? 'receive' : 'download';
      }
    }
    stageOf.set(id, stage);
    return stage;
  };
  // A sample whose whole stack marks no stage is "other main thread".
  const totals = new Map<Stage, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number;
    const micros = deltas[i + 1] ?? 0;
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === '(idle)') continue;
    const stage = place(id) ?? 'other main thread';
    totals.set(stage, (totals.get(stage) ?? 0) + micros);
  }
  return totals;
}

/** CPU the main thread (its task id is the process id) has used, in ms; 0 where /proc is absent. */
function mainThreadCpuMs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / 100;
  } catch {
    return 0;
  }
}
