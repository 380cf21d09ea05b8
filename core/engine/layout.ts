/**
 * Where a pass lives in staging. One volume's passes sit side by side under its volume prefix:
 *
 *   <volumeKey>/pass-000001/plan.json              the pass plan (kind, snapshots, shard list)
 *   <volumeKey>/pass-000001/plan/shard-0000.json   block refs of one shard
 *   <volumeKey>/pass-000001/segments/0000-000000.hbseg
 *   <volumeKey>/pass-000001/shards/0000.json       a shard's segment records, once all of them are staged
 *   <volumeKey>/pass-000001/manifest.json          written last: the pass is complete and whole
 *   <volumeKey>/pass-000001/ack.json               written by the applier once the pass is durable on the target
 */
export function volumePrefix(volumeKey: string): string {
  return `${volumeKey}/`;
}

export function passPrefix(volumeKey: string, passNumber: number): string {
  return `${volumeKey}/pass-${String(passNumber).padStart(6, '0')}/`;
}

export const PLAN_KEY = 'plan.json';
export const MANIFEST_KEY = 'manifest.json';
export const ACK_KEY = 'ack.json';

export function shardPlanKey(shardId: number): string {
  return `plan/shard-${String(shardId).padStart(4, '0')}.json`;
}

export function segmentKey(shardId: number, sequence: number): string {
  return `segments/${String(shardId).padStart(4, '0')}-${String(sequence).padStart(6, '0')}.hbseg`;
}

export function shardRecordKey(shardId: number): string {
  return `shards/${String(shardId).padStart(4, '0')}.json`;
}

export function shardSegmentsPrefix(shardId: number): string {
  return `segments/${String(shardId).padStart(4, '0')}-`;
}

const VOLUME_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A volume key is one path segment of letters, digits, dot, dash and underscore. */
export function isValidVolumeKey(key: string): boolean {
  return VOLUME_KEY.test(key);
}
