import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { replaceFileDurably } from '../durable-file.js';
import { HomeboundError } from '../errors.js';
import { FailbackPlacementSchema, SeedVmSchema } from './operations.js';

/**
 * The runs an agent knows, one small JSON file each under `<stateDir>/runs/<runId>.json`, replaced atomically (temp
 * file, fsync, rename, fsync of the directory) so a SIGKILL leaves the old record or the new one, never half of one.
 * A restarted agent reads them all and resumes following every run whose record says `following`. The applier
 * journals live beside them (`<stateDir>/appliers/<runId>/<volumeKey>/`) and are what makes the resume exact.
 * Records hold the run's gateway key, so files are 0600 and the state dir 0700.
 */

export const RUN_RECORD_FORMAT = 'homebound.agent-run/v1';

export const RunRecord = z.object({
  format: z.literal(RUN_RECORD_FORMAT),
  runId: z.string(),
  /** The platform kind that prepared it (a record of another kind is not acted on). */
  platform: z.string(),
  hosts: z.array(
    z.object({
      hostId: z.string(),
      name: z.string(),
      instanceType: z.string(),
      vCpus: z.number().int(),
      memoryMiB: z.number().int(),
      vmName: z.string().optional(),
      placement: FailbackPlacementSchema.optional(),
      seed: SeedVmSchema.optional(),
    }),
  ),
  volumes: z.array(
    z.object({
      volumeId: z.string(),
      hostId: z.string(),
      volumeKey: z.string(),
      deviceIndex: z.number().int(),
      sizeBytes: z.number().int(),
    }),
  ),
  /** Where the agent writes each volume (PreparedDisk). */
  disks: z.array(
    z.object({
      volumeId: z.string(),
      volumeKey: z.string(),
      path: z.string(),
      sizeBytes: z.number().int(),
      created: z.boolean(),
      location: z.string(),
      /**
       * The snapshot the disk held when this run prepared it (proven by an earlier run's journal), or, for a seed disk,
       * its seed's base id (`seed:<hash list digest>`): the applier's journal starts there.
       */
      holdsSnapshotId: z.string().optional(),
      /**
       * A seed disk: the seed VM, the copy keeping its pre-failback state, and the published hash list's record key
       * (in the store, from its root). Present once hashed: a restarted agent never hashes a disk it may have written.
       */
      seed: z.object({ vm: z.string(), preservedAs: z.string(), recordKey: z.string() }).optional(),
    }),
  ),
  stagingPrefix: z.string(),
  /** Where the agent writes the run's acks, apply errors and heartbeat. */
  recordsPrefix: z.string(),
  heartbeat: z.object({ intervalSeconds: z.number().int() }).optional(),
  ackKey: z.string().optional(),
  /** Whether the agent applies the run's passes (true from PrepareTarget until Cutover or Rollback). */
  following: z.boolean(),
  /** The last operation that changed the record. */
  phase: z.enum(['prepared', 'cutover', 'rolled-back']),
  updatedAt: z.string(),
});
export type RunRecord = z.infer<typeof RunRecord>;

/** A run record on disk that does not parse: the state dir was changed outside the agent. */
export class CorruptRunRecordError extends HomeboundError {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`run record ${path} is unreadable: ${reason}; move it away to make the agent forget that run`);
  }
}

export class RunStore {
  private constructor(private readonly dir: string) {}

  /** Opens (creating) `<stateDir>/runs`. */
  static async open(stateDir: string): Promise<RunStore> {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const dir = join(stateDir, 'runs');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return new RunStore(dir);
  }

  /** The record of a run, or undefined. @throws CorruptRunRecordError */
  async get(runId: string): Promise<RunRecord | undefined> {
    const path = this.pathOf(runId);
    const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    return text === undefined ? undefined : parseRecord(path, text);
  }

  /** Every record, in run id order. @throws CorruptRunRecordError */
  async list(): Promise<RunRecord[]> {
    const names = (await readdir(this.dir)).filter((name) => name.endsWith('.json')).sort();
    const records: RunRecord[] = [];
    for (const name of names) {
      const path = join(this.dir, name);
      records.push(parseRecord(path, await readFile(path, 'utf8')));
    }
    return records;
  }

  /** Replaces the run's record atomically and durably. */
  async put(record: RunRecord): Promise<void> {
    await replaceFileDurably(this.pathOf(record.runId), `${JSON.stringify(record, null, 2)}\n`);
  }

  private pathOf(runId: string): string {
    // Run ids are letters, digits, - and _ (operations.ts), so they are safe file names.
    return join(this.dir, `${runId}.json`);
  }
}

function parseRecord(path: string, text: string): RunRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new CorruptRunRecordError(path, (error as Error).message);
  }
  const parsed = RunRecord.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CorruptRunRecordError(path, `${issue?.path.join('.')}: ${issue?.message}`);
  }
  return parsed.data;
}
