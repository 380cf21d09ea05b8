import { z } from 'zod';
import type { FailbackDeps } from '../run-state.js';
import { SealVolumePassInput, StreamShardRangeInput, sealVolumePass, streamShardRange } from './split-pass.js';
import { StreamVolumePassInput, streamVolumePass } from './stream-pass.js';

/**
 * The StreamPass function's three steps by `step`: `volume` (the default: plan a volume's pass and stream it, or
 * split it), `range` (stream one range of a split pass) and `seal` (seal a split pass). One function for the three:
 * they need the same access (EBS reads and the pass staging, on-prem staging included), so a function each would
 * only repeat it.
 */
export const StreamPassInput = z.discriminatedUnion('step', [
  StreamVolumePassInput.extend({ step: z.literal('volume').default('volume') }),
  StreamShardRangeInput,
  SealVolumePassInput,
]);
export type StreamPassInput = z.infer<typeof StreamPassInput>;

/** Runs the step the input names. @throws as the step. */
export function streamPass(input: StreamPassInput, deps: FailbackDeps, deadline: number, signal?: AbortSignal) {
  switch (input.step) {
    case 'range':
      return streamShardRange(input, deps, deadline, signal);
    case 'seal':
      return sealVolumePass(input, deps);
    default:
      return streamVolumePass(input, deps, deadline, signal);
  }
}
