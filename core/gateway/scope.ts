import { z } from 'zod';

/**
 * Where a sync gateway writes: only below a prefix named after its own EC2 instance,
 *
 *   runs/<runId>/gateways/<instance ARN>/volumes/<volumeKey>/pass-000001/ack.json
 *   runs/<runId>/gateways/<instance ARN>/volumes/<volumeKey>/pass-000001/apply-error.json
 *   runs/<runId>/gateways/<instance ARN>/heartbeat.json
 *
 * because the gateway role's PutObject Resource ends in `gateways/${ec2:SourceInstanceARN}/…` (lib/sync-gateway-role.ts):
 * S3 fills the variable from the instance-profile session that signed the request, so a gateway can write under its
 * own instance's ARN only. The control plane reads a run's records only under the ARN of the gateway that run
 * launched (CheckApplied, Cutover), so a compromised gateway of another run can neither complete nor fail this run's
 * pass, nor keep it waiting with a heartbeat. The run key's MAC (core/engine/run-key.ts) still guards the same records.
 */

/** An EC2 instance ARN: `arn:<partition>:ec2:<region>:<account>:instance/<instance id>`. */
export const InstanceArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:ec2:[a-z0-9-]+:\d{12}:instance\/i-[0-9a-f]+$/,
    'an EC2 instance ARN (arn:aws:ec2:<region>:<account>:instance/i-…)',
  );

/** The part of an instance ARN before the instance id: what a control plane adds to a host id. */
export function instanceArnPrefix(partition: string, region: string, accountId: string): string {
  return `arn:${partition}:ec2:${region}:${accountId}:instance/`;
}

/** The prefix under which the gateways of a run write (each below its own ARN): clean-up removes it whole. */
export function gatewaysPrefix(runId: string): string {
  return `runs/${runId}/gateways/`;
}

/** The prefix only the gateway instance `instanceArn` can write under, for one run. */
export function gatewayScopePrefix(runId: string, instanceArn: string): string {
  return `${gatewaysPrefix(runId)}${instanceArn}/`;
}

/** Below a gateway's scope: its acks and apply errors, laid out by volume and pass as the staged passes are. */
export const GATEWAY_VOLUMES_DIR = 'volumes/';

/** Below a gateway's volumes dir: the record of a seeded volume's seed hashes (core/engine/seed.ts), `.hashes` beside it. */
export function seedRecordKey(volumeKey: string): string {
  return `${volumeKey}/seed.json`;
}

/** The seed record of `volumeKey` written by the gateway `instanceArn`, as a key from the bucket's root. */
export function gatewaySeedRecordKey(runId: string, instanceArn: string, volumeKey: string): string {
  return `${gatewayScopePrefix(runId, instanceArn)}${GATEWAY_VOLUMES_DIR}${seedRecordKey(volumeKey)}`;
}
