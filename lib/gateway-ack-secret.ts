import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { FailbackEnvironment } from '../core/wiring/aws.js';
import type { AppFunction } from './app-function.js';

/** The environment variable naming the secret, typed against the functions' schema. */
const SECRET_ARN_VARIABLE = 'HOMEBOUND_GATEWAY_ACK_SECRET_ARN' satisfies keyof FailbackEnvironment;

/**
 * The stack's gateway-ack secret: each run's gateway key is derived from it (core/engine/run-key.ts), so an ack,
 * apply error or heartbeat proves which run's gateway wrote it. Only the functions `grantTo` names can read it —
 * PrepareTarget (gives a gateway its run's key, verifies a kept target's record), PlanOnPremRun (gives the on-prem
 * agent its run's key), CheckApplied (verifies), StreamPass (verifies a seed record before a seeded pass) and CleanUp
 * (verifies the ack it keeps with a rolled-back run's target volumes) — never a gateway or the agent.
 */
export class GatewayAckSecret extends Construct {
  readonly secret: secretsmanager.Secret;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.secret = new secretsmanager.Secret(this, 'Secret', {
      description: "homebound: derives each run's sync gateway key (MACs of acks, apply errors, heartbeats)",
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    NagSuppressions.addResourceSuppressions(this.secret, [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'No automatic rotation: a new value would void the run keys of gateways in flight and roll their runs ' +
          'back; rotate it by hand between runs (docs/sync-gateway.md).',
      },
    ]);
  }

  /** Lets each function read the secret and tells it where the secret is (HOMEBOUND_GATEWAY_ACK_SECRET_ARN). */
  grantTo(functions: readonly AppFunction[]): void {
    for (const fn of functions) {
      this.secret.grantRead(fn.role);
      fn.function.addEnvironment(SECRET_ARN_VARIABLE, this.secret.secretArn);
    }
  }
}
