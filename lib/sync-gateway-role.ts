import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ACK_KEY } from '../core/engine/layout.js';
import { APPLY_ERROR_KEY } from '../core/gateway/apply-error.js';
import { HEARTBEAT_KEY } from '../core/gateway/heartbeat.js';
import type { GatewayArtifact } from './gateway-artifact.js';
import { allowWildcards } from './nag.js';
import type { Staging } from './staging.js';

export interface SyncGatewayRoleProps {
  readonly staging: Staging;
  /** The gateway bundle the user data downloads. */
  readonly artifact: GatewayArtifact;
}

/**
 * The role and instance profile sync gateways run with. A gateway reads the gateway bundle (that one object of the
 * CDK asset bucket) and staged passes under `runs/<runId>/volumes/`, and writes only the three object names a
 * gateway writes — `runs/<runId>/volumes/<volumeKey>/pass-<n>/ack.json` and `…/apply-error.json`, and
 * `runs/<runId>/gateway/heartbeat.json` — and deletes nothing.
 * Narrowing this to one run's prefix is impossible in IAM alone: the role exists before any run, EC2 attaches one
 * profile for every run, and an instance profile's sessions carry no principal tags (the instance's
 * `homebound:run` tag cannot appear in a policy variable). So each record also carries an HMAC with a key only its
 * run's gateway holds (core/engine/run-key.ts), and CheckApplied refuses any other (docs/sync-gateway.md).
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
          staging.bucket.arnForObjects(`runs/*/volumes/*/pass-*/${ACK_KEY}`),
          staging.bucket.arnForObjects(`runs/*/volumes/*/pass-*/${APPLY_ERROR_KEY}`),
          staging.bucket.arnForObjects(`runs/*/gateway/${HEARTBEAT_KEY}`),
        ],
      }),
    );
    allowWildcards(this.role, ['stagingPrefix']);
    this.instanceProfile = new iam.InstanceProfile(this, 'InstanceProfile', { role: this.role });
  }
}
