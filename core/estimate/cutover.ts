import { BLOCK_SIZE } from '../blocks.js';
import { type PassVolume, passTime } from './pass-time.js';
import type { ThroughputProfile } from './profile.js';

/** What the run knows when it asks for approval: the last pass and the volumes. */
export interface LastPass {
  readonly lastPassBytesChanged: number;
  /** Snapshot → applied, as RecordPass measured it. */
  readonly lastPassSeconds: number;
  readonly volumes: readonly { readonly hostId: string }[];
}

/** What the approver is told to expect if they approve. */
export interface CutoverEstimate {
  readonly finalPassSeconds: number;
  /** Takeover hosts stopped → failback hosts verified: stopping them, the final pass, the cutover. */
  readonly downtimeSeconds: number;
}

/** A pass of `bytes` spread evenly over the volumes, each host's on its gateway. */
function spread(bytes: number, volumes: LastPass['volumes']): PassVolume[] {
  const hosts = [...new Set(volumes.map((volume) => volume.hostId))];
  const blocks = bytes / BLOCK_SIZE / Math.max(1, volumes.length);
  return volumes.map((volume) => ({ hostIndex: hosts.indexOf(volume.hostId), blocks: Math.round(blocks) }));
}

/**
 * The final pass and the downtime if the cutover is approved now, by the model of `homebound estimate`
 * (docs/estimate.md) anchored on the last pass: the takeover hosts wrote `lastPassBytesChanged` while the pass before
 * ran, so they write at about that much per pass-length; the catch-up pass after approval carries what they write
 * until then (about one pass) and the final pass what they write during the catch-up pass and while they stop. The
 * model's pass time is scaled by how the last pass measured against it, so a slower or faster place than the profile
 * says shows in the estimate.
 */
export function estimateCutover(last: LastPass, profile: ThroughputProfile): CutoverEstimate {
  const modelled = (bytes: number) => {
    const time = passTime(spread(bytes, last.volumes), profile);
    return (profile.snapshotBeforeStart ? 0 : time.snapshotSeconds) + time.streamSeconds + time.applySeconds;
  };
  const anchor = modelled(last.lastPassBytesChanged);
  const scale = anchor > 0 && last.lastPassSeconds > 0 ? last.lastPassSeconds / anchor : 1;
  const passSeconds = (bytes: number) => modelled(bytes) * scale;
  const snapshotGap = (bytes: number) =>
    profile.passGapSeconds +
    (profile.snapshotBeforeStart ? passTime(spread(bytes, last.volumes), profile).snapshotSeconds : 0);
  // Bytes the hosts change per second of pass-to-pass time, as the last pass measured it.
  const perSecond =
    last.lastPassBytesChanged / Math.max(1e-3, last.lastPassSeconds + snapshotGap(last.lastPassBytesChanged));
  const catchUpBytes =
    perSecond * (last.lastPassSeconds + snapshotGap(last.lastPassBytesChanged) + profile.launchFailbackSeconds);
  const catchUpSeconds = passSeconds(catchUpBytes);
  const finalBytes = perSecond * (catchUpSeconds + snapshotGap(catchUpBytes) + profile.stopTakeoverSeconds);
  const finalPassSeconds = Math.ceil(passSeconds(finalBytes));
  const finalSnapshot = profile.snapshotBeforeStart ? snapshotGap(finalBytes) - profile.passGapSeconds : 0;
  return {
    finalPassSeconds,
    downtimeSeconds: Math.ceil(
      profile.stopTakeoverSeconds + finalSnapshot + finalPassSeconds + profile.passGapSeconds + profile.cutoverSeconds,
    ),
  };
}
