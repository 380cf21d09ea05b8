import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { OnPremStagingEnvironment } from '../core/adapters/aws/onprem-staging.js';
import type { FailbackTaskName } from '../core/failback/task-names.js';
import type { AppFunction } from './app-function.js';
import type { ApprovalKey } from './approval-key.js';

/**
 * The tasks that write, read and delete a run's staged passes: with an on-prem store, the agent's method gets its own
 * function for each, whose `staging` is the store (core/wiring/aws.ts).
 */
export const ON_PREM_PASS_TASKS = [
  'StreamPass',
  'CheckApplied',
  'CleanUp',
] as const satisfies readonly FailbackTaskName[];

export interface OnPremStagingStoreProps {
  /** The store's `https://` URL. */
  readonly endpoint: string;
  readonly bucket: string;
  readonly forcePathStyle: boolean;
  readonly region: string;
  /** A secret holding the store's key pair. @default one the stack creates, to be filled in after deploying */
  readonly credentialsSecretArn?: string | undefined;
  /** Encrypts the secret the stack creates; its policy names each reader (lib/approval-key.ts). */
  readonly key: ApprovalKey;
}

/**
 * The S3-compatible store on-prem that the conditional-automated method stages its passes in (issue 13 item 6), as
 * the functions see it: its endpoint, bucket and addressing in their environment, its key pair in a Secrets Manager
 * secret. The stack creates that secret — encrypted with the approvals key, whose policy does not delegate to IAM, so
 * only the functions `grantTo` names can decrypt it — unless `credentialsSecretArn` names one of your own (then its
 * key's policy must let those functions' roles decrypt through Secrets Manager: docs/operations.md).
 */
export class OnPremStagingStore extends Construct {
  readonly secret: secretsmanager.ISecret;
  /** Whether the stack created `secret` (and its key policy is the approvals key's). */
  readonly secretCreated: boolean;

  constructor(
    scope: Construct,
    id: string,
    private readonly props: OnPremStagingStoreProps,
  ) {
    super(scope, id);
    this.secretCreated = props.credentialsSecretArn === undefined;
    if (props.credentialsSecretArn !== undefined) {
      this.secret = secretsmanager.Secret.fromSecretCompleteArn(this, 'Credentials', props.credentialsSecretArn);
      return;
    }
    const secret = new secretsmanager.Secret(this, 'Credentials', {
      description: 'homebound: the on-prem staging store\'s {"accessKeyId", "secretAccessKey"}; set it after deploying',
      // By reference, as lib/approvals.ts does: given the key itself, the secret's key policy statement would let any
      // principal of the account with GetSecretValue decrypt it.
      encryptionKey: kms.Key.fromKeyArn(this, 'Key', props.key.key.keyArn),
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ accessKeyId: '', secretAccessKey: '' }),
        generateStringKey: 'unused',
        excludePunctuation: true,
      },
    });
    NagSuppressions.addResourceSuppressions(secret, [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'No automatic rotation: the key pair is issued by the on-prem store and changed there; put the new pair ' +
          'here when you rotate it (docs/operations.md).',
      },
    ]);
    this.secret = secret;
  }

  /** Gives each function the store's environment and lets it read the credentials' secret; nothing else can. */
  grantTo(functions: readonly AppFunction[]): void {
    const { props } = this;
    const variables = {
      HOMEBOUND_ONPREM_STAGING_ENDPOINT: props.endpoint,
      HOMEBOUND_ONPREM_STAGING_BUCKET: props.bucket,
      HOMEBOUND_ONPREM_STAGING_FORCE_PATH_STYLE: props.forcePathStyle ? 'true' : 'false',
      HOMEBOUND_ONPREM_STAGING_REGION: props.region,
      HOMEBOUND_ONPREM_STAGING_CREDENTIALS_SECRET_ARN: this.secret.secretArn,
    } satisfies Required<OnPremStagingEnvironment>;
    for (const fn of functions) {
      for (const [name, value] of Object.entries(variables)) fn.function.addEnvironment(name, value);
      this.secret.grantRead(fn.role);
      if (this.secretCreated) props.key.allow(fn.role, 'secretsmanager', 'read');
    }
  }
}
