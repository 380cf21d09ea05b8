import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { z } from 'zod';
import type { ApprovalEnvironment, DecisionVerifierEnvironment } from '../core/adapters/aws/approval-deps.js';
import { AppFunction } from './app-function.js';
import { ApprovalKey } from './approval-key.js';
import type { HomeboundConfig } from './config.js';
import { allowWildcards } from './nag.js';

export interface ApprovalsProps {
  readonly config: HomeboundConfig;
  /**
   * Reserved concurrency of each public endpoint (the approval page, the Slack endpoint): a flood of requests on their
   * function URLs is throttled at this many concurrent invocations and cannot take the account's concurrency from the
   * failback functions mid-failback. Lambda keeps at least 100 of the account's concurrency unreserved, so the
   * account needs a concurrency limit of at least 100 + 2 × this (docs/approvals.md). @default 10
   */
  readonly endpointConcurrency?: number;
}

/** Enough for a handful of approvers clicking at once (each request takes well under a second). */
export const DEFAULT_ENDPOINT_CONCURRENCY = 10;

/** The variables ApprovalEnvironment parses, as the strings Lambda holds: a required one the stack forgets fails tsc. */
type ApprovalVariables = { readonly [K in keyof z.input<typeof ApprovalEnvironment>]: string };

/** What a function does with approvals; each grants only the calls that role makes. */
type ApprovalRole = 'request' | 'page' | 'slack' | 'remind';

/** The secrets of the approval path: the HMAC key of links and nonces, the Slack app's signing secret and token. */
type ApprovalSecret = 'linkKey' | 'slack';

/**
 * What each approval role may touch. The page signs and checks links (link key); the Slack endpoint checks Slack's
 * signature and answers through the bot (Slack secret); the requester and the reminder sweep send both links and
 * Slack messages. The audit is append-only for everyone: a decision (or a timeout) adds its record.
 */
const ROLE_ACCESS = {
  request: {
    approvals: ['dynamodb:PutItem', 'dynamodb:UpdateItem'],
    audit: [],
    secrets: ['linkKey', 'slack'],
    sendsEmail: true,
  },
  page: {
    approvals: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
    audit: ['dynamodb:PutItem'],
    secrets: ['linkKey'],
    sendsEmail: false,
  },
  slack: {
    approvals: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
    audit: ['dynamodb:PutItem'],
    secrets: ['slack'],
    sendsEmail: false,
  },
  remind: {
    approvals: ['dynamodb:Scan', 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
    audit: ['dynamodb:PutItem'],
    secrets: ['linkKey', 'slack'],
    sendsEmail: true,
  },
} as const satisfies Record<
  ApprovalRole,
  {
    approvals: readonly string[];
    audit: readonly string[];
    secrets: readonly ApprovalSecret[];
    sendsEmail: boolean;
  }
>;

/**
 * The cutover approval channel (docs/approvals.md): the approvals table (task tokens under opaque ids, TTL = the
 * window), the audit table (kept), the link key and Slack secrets, all under the approval key (lib/approval-key.ts),
 * the approval page and the Slack endpoint behind Lambda function URLs, and the reminder sweep. Function URLs rather
 * than API Gateway: each endpoint is one function, the signed link (page) and Slack's signature (Slack) are the
 * authentication, so API Gateway's authorizers, models and stages would add cost and surface without adding a check.
 * Reserved concurrency stands in for its throttling (a flood is capped, the failback functions keep theirs); WAF is
 * what a function URL still lacks (README, Limits).
 */
export class Approvals extends Construct {
  /** Encrypts the tables, the secrets and the failback executions; only the roles named in its policy use it. */
  readonly key: ApprovalKey;
  readonly table: dynamodb.Table;
  readonly auditTable: dynamodb.Table;
  readonly linkKey: secretsmanager.Secret;
  readonly slackSecret: secretsmanager.Secret;
  readonly page: AppFunction;
  readonly pageUrl: lambda.FunctionUrl;
  readonly slack: AppFunction;
  readonly slackUrl: lambda.FunctionUrl;
  readonly reminders: AppFunction;
  /** The environment every approval function parses (ApprovalEnvironment); senders add the page URL. */
  private readonly environment: ApprovalVariables;

  constructor(
    scope: Construct,
    id: string,
    private readonly props: ApprovalsProps,
  ) {
    super(scope, id);
    const { config } = props;
    this.key = new ApprovalKey(this, 'Key');
    // Secrets get the key by reference: a Secret given the key itself adds "any principal of the account, through
    // Secrets Manager" to its policy, which would let every IAM principal with GetSecretValue read the secrets.
    const secretKey = kms.Key.fromKeyArn(this, 'SecretKey', this.key.key.keyArn);
    const encryption = { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey: this.key.key };
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'approvalId', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      ...encryption,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'ttl',
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.auditTable = new dynamodb.Table(this, 'AuditTable', {
      partitionKey: { name: 'runId', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'decisionKey', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      ...encryption,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.linkKey = new secretsmanager.Secret(this, 'LinkKey', {
      description: 'homebound: HMAC key that signs cutover approval links and form nonces',
      encryptionKey: secretKey,
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    this.slackSecret = new secretsmanager.Secret(this, 'SlackCredentials', {
      description:
        'homebound: the Slack app\'s {"signingSecret", "botToken", "teamId"}; set it after deploying (README)',
      encryptionKey: secretKey,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ signingSecret: '', botToken: '', teamId: '' }),
        generateStringKey: 'unused',
        excludePunctuation: true,
      },
    });
    NagSuppressions.addResourceSuppressions(
      [this.linkKey, this.slackSecret],
      [
        {
          id: 'AwsSolutions-SMG4',
          reason:
            'No automatic rotation: the Slack secrets are issued by Slack and changed there; rotating the link key ' +
            'would void the links of approvals in flight, so it is rotated by hand between runs (docs/approvals.md).',
        },
      ],
    );
    // Without the secrets: each function gets the ids of those it reads (ROLE_ACCESS), and only those.
    this.environment = {
      HOMEBOUND_APPROVALS_TABLE: this.table.tableName,
      HOMEBOUND_APPROVAL_AUDIT_TABLE: this.auditTable.tableName,
      HOMEBOUND_APPROVERS: config.approvers.join(','),
      HOMEBOUND_SLACK_APPROVERS: config.slackApprovers.join(','),
      HOMEBOUND_APPROVAL_REMINDER_MINUTES: String(config.approvalReminderMinutes),
      ...(config.slackChannel ? { HOMEBOUND_SLACK_CHANNEL: config.slackChannel } : {}),
      ...(config.approvalSender ? { HOMEBOUND_APPROVAL_SENDER: config.approvalSender } : {}),
    };

    this.page = this.endpoint('Page', 'functions/approval-page.ts', 'Approval page: shows a request, a POST decides');
    this.pageUrl = this.page.function.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
    this.grant(this.page, 'page');
    this.slack = this.endpoint(
      'Slack',
      'functions/slack-interaction.ts',
      "Slack buttons: verifies Slack's signature, decides",
    );
    this.slackUrl = this.slack.function.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
    this.grant(this.slack, 'slack');

    this.reminders = new AppFunction(this, 'Reminders', {
      entry: 'functions/approval-reminders.ts',
      description: 'homebound approvals: reminds approvers before the deadline, closes timed-out approvals',
      timeout: Duration.minutes(1),
      environment: { ...this.environment, HOMEBOUND_APPROVAL_PAGE_URL: this.pageUrl.url },
    });
    this.grant(this.reminders, 'remind');
    const schedule = new events.Rule(this, 'ReminderSchedule', {
      description: 'homebound: approval reminders and timeouts',
      schedule: events.Schedule.rate(Duration.minutes(5)),
      targets: [new targets.LambdaFunction(this.reminders.function)],
    });
    NagSuppressions.addResourceSuppressions(schedule, [
      {
        id: 'Serverless-EventBusDLQ',
        reason:
          'The reminder sweep is idempotent and runs every 5 minutes: a delivery that fails is made good by the ' +
          'next one, and a dead-letter queue of timer events would hold nothing worth reading.',
      },
    ]);
  }

  /**
   * Lets RequestApproval store approvals and send the request: adds the approval environment (with the page URL links
   * point to) and grants what the 'request' role needs.
   */
  connectRequester(fn: AppFunction): void {
    const environment = { ...this.environment, HOMEBOUND_APPROVAL_PAGE_URL: this.pageUrl.url };
    for (const [name, value] of Object.entries(environment))
      if (value !== undefined) fn.function.addEnvironment(name, value);
    this.grant(fn, 'request');
  }

  /**
   * Lets VerifyDecision re-read the run's decision: the tables and the approver allow-list in its environment, read
   * only (GetItem on approvals, Query on the audit), and no secret: it checks a decision, it never makes one.
   */
  connectVerifier(fn: AppFunction): void {
    const environment = {
      HOMEBOUND_APPROVALS_TABLE: this.table.tableName,
      HOMEBOUND_APPROVAL_AUDIT_TABLE: this.auditTable.tableName,
      HOMEBOUND_APPROVERS: this.props.config.approvers.join(','),
      HOMEBOUND_SLACK_APPROVERS: this.props.config.slackApprovers.join(','),
    } satisfies { readonly [K in keyof z.input<typeof DecisionVerifierEnvironment>]-?: string };
    for (const [name, value] of Object.entries(environment)) fn.function.addEnvironment(name, value);
    this.table.grant(fn.role, 'dynamodb:GetItem');
    this.auditTable.grant(fn.role, 'dynamodb:Query');
    this.key.allow(fn.role, 'dynamodb', 'read');
  }

  /**
   * Lets the page and the Slack endpoint complete the task tokens of these state machines (one per method), and
   * nothing else's. A separate
   * policy (not the roles' default ones) so the functions need not wait for the state machine, which waits for
   * RequestApproval, which needs the page URL.
   */
  allowDecisions(stateMachines: readonly sfn.IStateMachine[]): void {
    new iam.Policy(this, 'DecisionPolicy', {
      roles: [this.page.role, this.slack.role],
      statements: [
        new iam.PolicyStatement({
          // IAM evaluates SendTask* against the state machine whose token it is (the error names that ARN).
          actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'],
          resources: stateMachines.map((machine) => machine.stateMachineArn),
        }),
      ],
    });
  }

  private endpoint(id: string, entry: string, description: string): AppFunction {
    const fn = new AppFunction(this, id, {
      entry,
      description: `homebound approvals: ${description}`,
      timeout: Duration.seconds(10),
      environment: this.environment,
    });
    const concurrency = this.props.endpointConcurrency ?? DEFAULT_ENDPOINT_CONCURRENCY;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new Error(`endpointConcurrency must be a whole number ≥ 1, not ${concurrency}`);
    }
    // AppFunction does not take reserved concurrency; only these two public endpoints need it.
    (fn.function.node.defaultChild as lambda.CfnFunction).reservedConcurrentExecutions = concurrency;
    return fn;
  }

  private grant(fn: AppFunction, role: ApprovalRole): void {
    const { config } = this.props;
    const access = ROLE_ACCESS[role];
    if (role !== 'request') allowWildcards(fn.role, ['noResourceLevel']); // X-Ray; RequestApproval has its own
    const secrets = { linkKey: this.linkKey, slack: this.slackSecret };
    const secretVariables = {
      linkKey: 'HOMEBOUND_APPROVAL_LINK_KEY_SECRET',
      slack: 'HOMEBOUND_SLACK_SECRET',
    } as const satisfies Record<ApprovalSecret, keyof ApprovalVariables>;
    for (const secret of access.secrets) {
      secrets[secret].grantRead(fn.role);
      fn.function.addEnvironment(secretVariables[secret], secrets[secret].secretArn);
    }
    if (access.secrets.length > 0) this.key.allow(fn.role, 'secretsmanager');
    this.key.allow(fn.role, 'dynamodb');
    this.table.grant(fn.role, ...access.approvals);
    if (access.audit.length > 0) this.auditTable.grant(fn.role, ...access.audit);
    if (access.sendsEmail && config.approvalSender) {
      const stack = Stack.of(this);
      const domain = config.approvalSender.slice(config.approvalSender.indexOf('@') + 1);
      fn.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['ses:SendEmail'],
          resources: [config.approvalSender, domain].map((identity) =>
            stack.formatArn({ service: 'ses', resource: 'identity', resourceName: identity }),
          ),
          conditions: { StringEquals: { 'ses:FromAddress': config.approvalSender } },
        }),
      );
    }
  }
}
