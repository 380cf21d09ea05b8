import { z } from 'zod';
import { BLOCK_SIZE, blockCountFor } from '../blocks.js';
import { InvalidInputError } from '../errors.js';
import { sharedRequestFields } from '../failback/request-fields.js';

const MiB = 1024 * 1024;
const BLOCK_KiB = BLOCK_SIZE / 1024;

/**
 * How a host or volume writes. Each write dirties the 512 KiB blocks it touches (`writeKiB` rounded up to whole
 * blocks: aligned writes), landing uniformly at random on `hotFraction` of the volume's blocks, so a pass carries the
 * distinct blocks written since the last snapshot, not every write.
 */
export const WriteRate = z
  .strictObject({
    /** MiB written per second (with `writeKiB`: that many writes a second). */
    mibPerSecond: z.number().nonnegative().optional(),
    /** Writes per second (the drill's `--writes-per-second`). */
    writesPerSecond: z.number().nonnegative().optional(),
    /** Size of one write. @default 512 (one block, as the drill's workload writes) */
    writeKiB: z.number().positive().max(1_048_576).default(BLOCK_KiB),
    /** Share of the volume's blocks the writes land on (1: anywhere; 0.05: a hot 5%). @default 1 */
    hotFraction: z.number().gt(0).max(1).default(1),
  })
  .refine((rate) => (rate.mibPerSecond === undefined) !== (rate.writesPerSecond === undefined), {
    message: 'give one of mibPerSecond and writesPerSecond',
  });
export type WriteRate = z.output<typeof WriteRate>;

const PlanVolume = z
  .strictObject({
    sizeGiB: z.number().positive().optional(),
    sizeMiB: z.number().positive().optional(),
    /** Share of the volume's blocks ever written (what ListSnapshotBlocks lists). @default the plan's usedFraction */
    usedFraction: z.number().min(0).max(1).optional(),
    /** This volume's own writes; without them it gets an equal share of its host's. */
    writes: WriteRate.optional(),
  })
  .refine((volume) => (volume.sizeGiB === undefined) !== (volume.sizeMiB === undefined), {
    message: 'give one of sizeGiB and sizeMiB',
  });

const PlanHost = z.strictObject({
  id: z.string().min(1).optional(),
  volumes: z.array(PlanVolume).min(1),
  /** The host's writes, shared equally by its volumes that give none of their own. @default the plan's writes */
  writes: WriteRate.optional(),
});

/** `homebound estimate --plan FILE` (docs/estimate.md). */
export const EstimatePlan = z.strictObject({
  hosts: z.array(PlanHost).min(1).max(10_000),
  /** @default 1 (every block written: the full pass reads the whole volume) */
  usedFraction: z.number().min(0).max(1).default(1),
  /** Every host's writes unless it gives its own. @default none: an idle fleet */
  writes: WriteRate.optional(),
  /** As the failback request has it: converged once an incremental pass carries at most thresholdMiB. */
  convergence: sharedRequestFields.convergence,
  /** Converged → approved: the catch-up pass carries what was written meanwhile. @default 0 (approved at once) */
  approvalSeconds: z.number().nonnegative().default(0),
});
export type EstimatePlan = z.output<typeof EstimatePlan>;
export type EstimatePlanInput = z.input<typeof EstimatePlan>;

/** A plan that does not parse: the message names the field. */
export class EstimatePlanError extends InvalidInputError {}

/** One volume as the model sees it. */
export interface VolumeLoad {
  readonly hostIndex: number;
  readonly volumeKey: string;
  readonly blocks: number;
  /** Blocks the first (full) pass lists. */
  readonly usedBlocks: number;
  /** Blocks dirtied per second (before overlap). */
  readonly dirtyBlocksPerSecond: number;
  /** Blocks those writes land on. */
  readonly hotBlocks: number;
}

/**
 * Checks a plan and fills in its defaults.
 * @throws EstimatePlanError naming the first field at fault (`hosts.0.volumes.1.sizeGiB: …`)
 */
export function parseEstimatePlan(input: unknown): EstimatePlan {
  const parsed = EstimatePlan.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new EstimatePlanError(`plan ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'is invalid'}`);
}

function dirtyBlocksPerSecond(rate: WriteRate): number {
  const writesPerSecond = rate.writesPerSecond ?? ((rate.mibPerSecond ?? 0) * 1024) / rate.writeKiB;
  return writesPerSecond * Math.ceil(rate.writeKiB / BLOCK_KiB);
}

/** Every volume of the plan with its blocks and writes, hosts in order. */
export function volumeLoads(plan: EstimatePlan): VolumeLoad[] {
  return plan.hosts.flatMap((host, hostIndex) => {
    const hostRate = host.writes ?? plan.writes;
    const sharing = host.volumes.filter((volume) => !volume.writes).length;
    return host.volumes.map((volume, volumeIndex) => {
      const sizeBytes = volume.sizeMiB !== undefined ? volume.sizeMiB * MiB : (volume.sizeGiB ?? 0) * 1024 * MiB;
      const blocks = blockCountFor(sizeBytes);
      const rate = volume.writes ?? hostRate;
      const perSecond = rate ? dirtyBlocksPerSecond(rate) / (volume.writes ? 1 : sharing) : 0;
      return {
        hostIndex,
        volumeKey: `${host.id ?? `host-${hostIndex + 1}`}/${volumeIndex}`,
        blocks,
        usedBlocks: Math.round(blocks * (volume.usedFraction ?? plan.usedFraction)),
        dirtyBlocksPerSecond: perSecond,
        hotBlocks: Math.max(1, Math.round(blocks * (rate?.hotFraction ?? 1))),
      };
    });
  });
}

/**
 * Distinct blocks of a volume written in `seconds`: `dirty × seconds` writes, each on one of `hot` blocks at random,
 * touch hot × (1 − (1 − 1/hot)^writes) of them.
 */
export function changedBlocks(volume: VolumeLoad, seconds: number): number {
  const writes = volume.dirtyBlocksPerSecond * Math.max(0, seconds);
  if (writes === 0) return 0;
  if (volume.hotBlocks <= 1) return Math.min(1, writes);
  return volume.hotBlocks * (1 - (1 - 1 / volume.hotBlocks) ** writes);
}
