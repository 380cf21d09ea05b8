import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ACK_KEY } from '../core/engine/layout.js';
import { APPLY_ERROR_KEY } from '../core/gateway/apply-error.js';
import { HEARTBEAT_KEY } from '../core/gateway/heartbeat.js';
import { GATEWAY_VOLUMES_DIR, gatewayScopePrefix } from '../core/gateway/scope.js';
import type { GatewayArtifact } from './gateway-artifact.js';
import { allowWildcards } from './nag.js';
import type { Staging } from './staging.js';

/** The policy variable IAM resolves to the ARN of the EC2 instance whose role session signed the request. */
export const SOURCE_INSTANCE_ARN = `\${ec2:SourceInstanceARN}`;

/** `runs/<any run>/gateways/${ec2:SourceInstanceARN}/`: the one prefix a gateway writes under, whatever its run. */
const OWN_SCOPE = gatewayScopePrefix('*', SOURCE_INSTANCE_ARN);

export interface SyncGatewayRoleProps {
  readonly staging: Staging;
  /** The gateway bundle the user data downloads. */
  readonly artifact: GatewayArtifact;
}

/**
 * The role and instance profile sync gateways run with. A gateway reads the gateway bundle (that one object of the
 * CDK asset bucket) and staged passes under `runs/<runId>/volumes/`, and writes only three object names, each below
 * its own instance's ARN — `runs/<runId>/gateways/${ec2:SourceInstanceARN}/volumes/<volumeKey>/pass-<n>/ack.json` and
 * `…/apply-error.json`, and `runs/<runId>/gateways/${ec2:SourceInstanceARN}/heartbeat.json` — and deletes nothing.
 * S3 fills `${ec2:SourceInstanceARN}` from the instance-profile session that signed the request (a global condition
 * key, usable as a policy variable), so every gateway shares this one role yet can write only where the control
 * plane reads the records of the run that launched it (core/gateway/scope.ts). The leading `runs/*` may span `/`, but
 * the variable must still be followed by `/volumes/` or be the heartbeat's parent, and a run id holds no `/`, so no
 * key it matches is one CheckApplied reads for another instance. Each record also carries an HMAC with a key only its
 * run's gateway holds (core/engine/run-key.ts). A gateway can still READ every run's staged passes: the role exists
 * before any run, and an instance profile's sessions carry no run (docs/security.md).
 */
export class SyncGatewayRole extends Construct {
  readonly role: iam.Role;
  readonly instanceProfile: iam.InstanceProfile;

  constructor(scope: Construct, id: string, props: SyncGatewayRoleProps) {
    super(scope, id);
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'homebound sync gateway: applies staged passes to the target volumes',
    });
    const { staging } = props;
    staging.grantObjects(this.role, 'read', 'runs/*/volumes/*');
    props.artifact.grantRead(this.role);
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [
          staging.bucket.arnForObjects(`${OWN_SCOPE}${GATEWAY_VOLUMES_DIR}*/pass-*/${ACK_KEY}`),
          staging.bucket.arnForObjects(`${OWN_SCOPE}${GATEWAY_VOLUMES_DIR}*/pass-*/${APPLY_ERROR_KEY}`),
          staging.bucket.arnForObjects(`${OWN_SCOPE}${HEARTBEAT_KEY}`),
        ],
      }),
    );
    allowWildcards(this.role, ['stagingPrefix']);
    this.instanceProfile = new iam.InstanceProfile(this, 'InstanceProfile', { role: this.role });
  }
}
