import { join } from 'node:path';
import { z } from 'zod';
import { readJournal } from '../engine/journal.js';
import type { RunRecord } from './run-store.js';

/**
 * Whether the on-prem disks of a new run hold the snapshots the control plane proposes to start from (`bases`, from
 * the kept records of a rolled-back run). The agent's own word for what a disk holds is the applier journal of the
 * last run that wrote it (`<stateDir>/appliers/<runId>/<volumeKey>/`): it names the disk path (`target`), the snapshot
 * the disk equals and any pass in progress. Disks are named per volume (vsphere) or given by the operator (manual), so
 * a next run reuses the same path; the newest earlier run that had the path, by its record's `updatedAt`, is the one
 * whose journal counts, and only if that run has ended (rolled back, so nothing writes the disk any more) and its
 * journal has nothing in progress. Anything else means the disk is not proven and the first pass is full.
 *
 * What it cannot see: a person writing the disk outside homebound between the runs (docs/operations.md).
 */

export const ProposedBase = z.object({
  volumeKey: z.string(),
  snapshotId: z.string().min(1),
  /** The kept record that proposed it (control plane's TargetBase); echoed back in the answer's `bases`. */
  provenBy: z.object({ runId: z.string(), passNumber: z.number().int().positive() }).optional(),
});
export type ProposedBase = z.infer<typeof ProposedBase>;

/** The agent's answer for one disk. */
export interface HeldAnswer {
  readonly volumeKey: string;
  readonly snapshotId: string;
  readonly held: boolean;
  /** Which earlier run's journal proved it, or why it is not proven. */
  readonly reason: string;
}

export interface ProveHeldInput {
  readonly runId: string;
  /** The disks this run's PrepareTarget prepared (volume key and path). */
  readonly disks: readonly { readonly volumeKey: string; readonly path: string }[];
  readonly bases: readonly ProposedBase[];
  /** Every run record the agent has (RunStore.list()). */
  readonly records: readonly RunRecord[];
  /** The agent's state dir (applier journals under `appliers/`). */
  readonly stateDir: string;
}

/** Answers per proposed base whether its disk provably holds it. */
export async function proveHeldSnapshots(input: ProveHeldInput): Promise<HeldAnswer[]> {
  const answers: HeldAnswer[] = [];
  for (const base of input.bases) {
    const disk = input.disks.find((candidate) => candidate.volumeKey === base.volumeKey);
    const answer = (held: boolean, reason: string) => answers.push({ ...base, held, reason });
    if (!disk) {
      answer(false, `no disk of this run copies ${base.volumeKey}`);
      continue;
    }
    const previous = input.records
      .filter((record) => record.runId !== input.runId)
      .flatMap((record) => {
        const used = record.disks.find((candidate) => candidate.path === disk.path);
        return used ? [{ record, volumeKey: used.volumeKey }] : [];
      })
      // Newest first; at the same instant a run that has not ended counts first (it may still write the disk).
      .sort(
        (a, b) =>
          b.record.updatedAt.localeCompare(a.record.updatedAt) ||
          Number(b.record.phase !== 'rolled-back') - Number(a.record.phase !== 'rolled-back'),
      )[0];
    if (!previous) {
      answer(false, `no earlier run wrote ${disk.path}`);
      continue;
    }
    const { record } = previous;
    if (record.phase !== 'rolled-back' || record.following) {
      answer(false, `run ${record.runId}, the last to write ${disk.path}, is ${record.phase}, not rolled back`);
      continue;
    }
    const journal = await readJournal(join(input.stateDir, 'appliers', record.runId, previous.volumeKey)).catch(
      () => undefined,
    );
    if (!journal || journal.target !== disk.path) {
      answer(false, `run ${record.runId} left no readable journal for ${disk.path}`);
    } else if (journal.inProgress) {
      answer(false, `run ${record.runId}'s journal has pass ${journal.inProgress.passNumber} in progress on it`);
    } else if (journal.snapshotId !== base.snapshotId) {
      answer(false, `run ${record.runId}'s journal says it holds ${journal.snapshotId ?? 'nothing'}`);
    } else {
      answer(true, `run ${record.runId}'s journal (pass ${journal.lastAppliedPass}) says it holds it`);
    }
  }
  return answers;
}
