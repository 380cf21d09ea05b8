import { ArnFormat, DefaultStackSynthesizer, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/**
 * What the account's administrators may do with the key: manage it, never encrypt or decrypt with it. No
 * `kms:CreateGrant` either (a grant to oneself would be use); AWS services get theirs below.
 */
export const KEY_ADMIN_ACTIONS = [
  'kms:DescribeKey',
  'kms:EnableKey',
  'kms:DisableKey',
  'kms:EnableKeyRotation',
  'kms:DisableKeyRotation',
  'kms:RotateKeyOnDemand',
  'kms:GetKeyPolicy',
  'kms:PutKeyPolicy',
  'kms:GetKeyRotationStatus',
  'kms:ListKeyRotations',
  'kms:ListGrants',
  'kms:ListKeyPolicies',
  'kms:ListResourceTags',
  'kms:RevokeGrant',
  'kms:UpdateKeyDescription',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:CreateAlias',
  'kms:UpdateAlias',
  'kms:DeleteAlias',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
] as const;

/** Which service a role uses the key through: DynamoDB for the tables, Secrets Manager for the secrets. */
export type ApprovalKeyService = 'dynamodb' | 'secretsmanager';

/**
 * The customer-managed key of the approval path (docs/approvals.md, Threat model): the approvals and audit tables,
 * the link key and Slack secrets, and the failback state machine's execution history (which holds the task token in
 * RequestApproval's parameters). Its policy does not delegate to IAM: only the principals named in it may use it —
 * each approval role through the one service it needs, the state machine's role for its own executions, and the
 * CloudFormation execution role that creates the tables and secrets. Administrators manage it but cannot use it.
 * Retained with the stack deleted: the audit table, also retained, stays readable.
 */
export class ApprovalKey extends Construct {
  readonly key: kms.Key;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const stack = Stack.of(this);
    const viaService = (...services: ApprovalKeyService[]) => ({
      'kms:ViaService': services.map((service) => `${service}.${stack.region}.amazonaws.com`),
      'kms:CallerAccount': stack.account,
    });
    const policy = new iam.PolicyDocument({
      statements: [
        new iam.PolicyStatement({
          sid: 'AdministratorsManageButDoNotUse',
          principals: [new iam.AccountRootPrincipal()],
          actions: [...KEY_ADMIN_ACTIONS],
          resources: ['*'],
        }),
        new iam.PolicyStatement({
          sid: 'ServicesGrantThemselvesForTheirResources',
          principals: [new iam.AccountRootPrincipal()],
          actions: ['kms:CreateGrant'],
          resources: ['*'],
          conditions: {
            Bool: { 'kms:GrantIsForAWSResource': 'true' },
            StringEquals: viaService('dynamodb', 'secretsmanager'),
          },
        }),
      ],
    });
    // CloudFormation creates the tables and generates the secrets through the services, as the deploying role.
    const deployer =
      stack.synthesizer instanceof DefaultStackSynthesizer && stack.synthesizer.cloudFormationExecutionRoleArn;
    if (deployer) {
      policy.addStatements(
        new iam.PolicyStatement({
          sid: 'DeployerCreatesTablesAndSecrets',
          principals: [new iam.ArnPrincipal(Fn.sub(deployer))],
          actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:DescribeKey', 'kms:CreateGrant'],
          resources: ['*'],
          conditions: { StringEquals: viaService('dynamodb', 'secretsmanager') },
        }),
      );
    }
    this.key = new kms.Key(this, 'Key', {
      description: 'homebound approvals: tables, link key and Slack secrets, failback execution history',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
      policy,
    });
  }

  /**
   * Lets `role` use the key through `service` only: a table's items, or a secret's value.
   * @param mode 'read' decrypts only (VerifyDecision, secret readers); 'readWrite' also encrypts (writing items)
   */
  allow(role: iam.IRole, service: ApprovalKeyService, mode: 'read' | 'readWrite' = 'readWrite'): void {
    const stack = Stack.of(this);
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [role],
        actions:
          mode === 'read' || service === 'secretsmanager'
            ? ['kms:Decrypt', 'kms:DescribeKey']
            : ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: ['*'],
        conditions: {
          StringEquals: {
            'kms:ViaService': `${service}.${stack.region}.amazonaws.com`,
            'kms:CallerAccount': stack.account,
          },
        },
      }),
    );
  }

  /**
   * Lets a state machine's role encrypt and decrypt its executions (the encryption context names the state machine)
   * and deliver its logs. Any state machine of this account: naming this one would make the key depend on the state
   * machine that uses it; the role is this one's own.
   */
  allowStateMachine(role: iam.IRole): void {
    const stack = Stack.of(this);
    const arnOf = (service: string, resource: string, arnFormat: ArnFormat) =>
      stack.formatArn({ service, resource, resourceName: '*', arnFormat });
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [role],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:states:stateMachineArn': arnOf(
              'states',
              'stateMachine',
              ArnFormat.COLON_RESOURCE_NAME,
            ),
          },
        },
      }),
    );
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [role],
        actions: ['kms:GenerateDataKey'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:SourceArn': stack.formatArn({
              service: 'logs',
              resource: '*',
              arnFormat: ArnFormat.NO_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
  }
}
