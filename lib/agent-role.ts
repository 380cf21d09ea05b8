import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as rolesanywhere from 'aws-cdk-lib/aws-rolesanywhere';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { agentRecordsPrefix } from '../core/agent/handle-operation.js';
import { ACK_KEY } from '../core/engine/layout.js';
import { APPLY_ERROR_KEY } from '../core/gateway/apply-error.js';
import { HEARTBEAT_KEY } from '../core/gateway/heartbeat.js';
import { GATEWAY_VOLUMES_DIR } from '../core/gateway/scope.js';
import { allowWildcards } from './nag.js';
import type { Staging } from './staging.js';

/** The service principal IAM Roles Anywhere assumes roles as. */
export const ROLES_ANYWHERE_PRINCIPAL = 'rolesanywhere.amazonaws.com';

/** The CA bundle at `path` is not a PEM certificate of a CA. */
export class InvalidAgentCaCertificateError extends Error {
  override readonly name = 'InvalidAgentCaCertificateError';
}

/**
 * Reads the PEM bundle `homebound:agentCaCertificate` names and checks each certificate in it is a CA's (Roles Anywhere
 * refuses a trust anchor of a leaf certificate at deploy; this says so at synth, with the path).
 * @throws InvalidAgentCaCertificateError when the file holds no certificate, a malformed one, or one that is no CA
 */
export function readAgentCaCertificate(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    throw new InvalidAgentCaCertificateError(`homebound:agentCaCertificate: cannot read ${path}`, { cause: error });
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    throw new InvalidAgentCaCertificateError(`homebound:agentCaCertificate: ${path} holds no PEM certificate`);
  }
  for (const block of blocks) {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(block);
    } catch (error) {
      throw new InvalidAgentCaCertificateError(`homebound:agentCaCertificate: ${path} holds a malformed certificate`, {
        cause: error,
      });
    }
    if (!certificate.ca) {
      throw new InvalidAgentCaCertificateError(
        `homebound:agentCaCertificate: ${certificate.subject.replace(/\n/g, ', ')} in ${path} is not a CA certificate`,
      );
    }
  }
  return blocks.join('\n');
}

/**
 * IAM Roles Anywhere as a role's trusted principal: one trust statement with the three actions its CreateSession
 * performs (AssumeRole; TagSession for the certificate's subject and issuer as session tags; SetSourceIdentity, which
 * it sets from the certificate), all under `conditions` — CDK's ServicePrincipal.withSessionTags() covers only two.
 */
class RolesAnywherePrincipal extends iam.ServicePrincipal {
  constructor(private readonly trustConditions: iam.Conditions) {
    super(ROLES_ANYWHERE_PRINCIPAL);
  }

  override addToAssumeRolePolicy(document: iam.PolicyDocument): void {
    document.addStatements(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal(ROLES_ANYWHERE_PRINCIPAL)],
        actions: ['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity'],
        conditions: this.trustConditions,
      }),
    );
  }
}

export interface AgentRoleProps {
  readonly activity: sfn.IActivity;
  /**
   * The stack's bucket, when it is the staging store the agent reads and writes; undefined when the passes go to an
   * on-prem store (the agent then uses that store's own keys and this role has nothing on S3).
   */
  readonly staging?: Staging | undefined;
  /** The CA bundle (PEM) the stack makes a trust anchor of. */
  readonly caCertificatePem?: string | undefined;
  /** An existing trust anchor to trust instead. */
  readonly trustAnchorArn?: string | undefined;
  /** The common name the agent's certificate must have. @default any certificate the anchor's CA issued */
  readonly certificateCommonName?: string | undefined;
}

/**
 * What the on-prem agent may do, and, once a Roles Anywhere trust anchor exists, the role it does it as.
 *
 * The permissions are a managed policy (`policy`): answer the agent activity — GetActivityTask on that activity
 * only; SendTaskHeartbeat/Success/Failure, which IAM authorizes on no resource (the task token is the capability) —
 * and, when the stack's bucket is the staging store, read the runs' staged passes (below `runs/<runId>/volumes/`) and
 * write only the three record names the agent writes below `runs/<runId>/agent/` (docs/agent.md) — an ack and an apply
 * error per volume and pass, the run's heartbeat — with the staging key for both. It deletes nothing.
 *
 * The role (`role`) exists when a trust anchor does — the stack's own, made from `caCertificatePem` with a Roles
 * Anywhere profile naming the role, or `trustAnchorArn` — and trusts Roles Anywhere for that anchor's sessions only
 * (and, with `certificateCommonName`, only certificates of that subject). Without an anchor there is no role: the
 * policy can be attached to whatever principal the operator uses, and the `AgentRolesAnywhere` output says how to get
 * one.
 */
export class AgentRole extends Construct {
  readonly policy: iam.ManagedPolicy;
  /** Undefined without a trust anchor. */
  readonly role: iam.Role | undefined;
  /** The stack's trust anchor, when a CA certificate is configured. */
  readonly trustAnchor: rolesanywhere.CfnTrustAnchor | undefined;
  /** The Roles Anywhere profile of `role`, with the stack's trust anchor. */
  readonly profile: rolesanywhere.CfnProfile | undefined;

  constructor(scope: Construct, id: string, props: AgentRoleProps) {
    super(scope, id);
    this.policy = new iam.ManagedPolicy(this, 'Policy', {
      description: 'homebound on-prem agent: answers the agent activity and writes its acks to staging',
      statements: [
        new iam.PolicyStatement({ actions: ['states:GetActivityTask'], resources: [props.activity.activityArn] }),
        new iam.PolicyStatement({
          actions: ['states:SendTaskHeartbeat', 'states:SendTaskSuccess', 'states:SendTaskFailure'],
          resources: ['*'],
        }),
      ],
    });
    NagSuppressions.addResourceSuppressions(this.policy, [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'states:SendTaskHeartbeat/SendTaskSuccess/SendTaskFailure have no resource-level permissions in IAM (the ' +
          'task token is the capability, and only GetActivityTask on this activity hands the agent one).',
        appliesTo: ['Resource::*'],
      },
    ]);
    if (props.staging) this.grantStaging(props.staging);

    this.trustAnchor = props.caCertificatePem ? this.createTrustAnchor(props.caCertificatePem) : undefined;
    const trustAnchorArn = this.trustAnchor?.attrTrustAnchorArn ?? props.trustAnchorArn;
    this.role = trustAnchorArn === undefined ? undefined : this.createRole(trustAnchorArn, props.certificateCommonName);
    this.profile =
      this.trustAnchor && this.role
        ? new rolesanywhere.CfnProfile(this, 'Profile', {
            name: `${Stack.of(this).stackName}-agent`,
            roleArns: [this.role.roleArn],
            enabled: true,
          })
        : undefined;
  }

  private createRole(trustAnchorArn: string, commonName: string | undefined): iam.Role {
    return new iam.Role(this, 'Role', {
      description: 'homebound on-prem agent (IAM Roles Anywhere): answers the agent activity, applies staged passes',
      assumedBy: new RolesAnywherePrincipal({
        ArnEquals: { 'aws:SourceArn': trustAnchorArn },
        ...(commonName ? { StringEquals: { 'aws:PrincipalTag/x509Subject/CN': commonName } } : {}),
      }),
      managedPolicies: [this.policy],
    });
  }

  private grantStaging(staging: Staging): void {
    const records = agentRecordsPrefix('*');
    this.policy.addStatements(...staging.objectStatements('read', 'runs/*/volumes/*'));
    this.policy.addStatements(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [
          staging.bucket.arnForObjects(`${records}${GATEWAY_VOLUMES_DIR}*/pass-*/${ACK_KEY}`),
          staging.bucket.arnForObjects(`${records}${GATEWAY_VOLUMES_DIR}*/pass-*/${APPLY_ERROR_KEY}`),
          staging.bucket.arnForObjects(`${records}${HEARTBEAT_KEY}`),
        ],
      }),
    );
    allowWildcards(this.policy, ['stagingPrefix']);
  }

  private createTrustAnchor(pem: string): rolesanywhere.CfnTrustAnchor {
    return new rolesanywhere.CfnTrustAnchor(this, 'TrustAnchor', {
      name: `${Stack.of(this).stackName}-agent`,
      enabled: true,
      source: { sourceType: 'CERTIFICATE_BUNDLE', sourceData: { x509CertificateData: pem } },
    });
  }
}
