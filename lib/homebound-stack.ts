import { Annotations, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { FAILBACK_EVENT_BUS_OUTPUT } from '../core/failback/deployment-names.js';
import { type FailbackMethodName, failbackMethods } from '../core/methods/registry.js';
import { AGENT_ACTIVITY_ARN_OUTPUT, AgentActivity, usesAgentActivity } from './agent-activity.js';
import { AgentRole, readAgentCaCertificate } from './agent-role.js';
import { Approvals } from './approvals.js';
import { EXAMPLE_IMAGE_ID, type HomeboundConfig, onPremStagingOf } from './config.js';
import { FailbackFunctions } from './failback-functions.js';
import { FailbackMonitoring } from './failback-monitoring.js';
import { FailbackStateMachine } from './failback-state-machine.js';
import { FailbackTriggers } from './failback-triggers.js';
import { GatewayAckSecret } from './gateway-ack-secret.js';
import { GatewayArtifact } from './gateway-artifact.js';
import { GatewaySecurityGroup } from './gateway-security-group.js';
import { HealthCheckSecurityGroup } from './health-check-security-group.js';
import { ON_PREM_PASS_TASKS, OnPremStagingStore } from './onprem-staging-store.js';
import { OperatorNotifications } from './operator-notifications.js';
import { Staging } from './staging.js';
import { SyncGatewayRole } from './sync-gateway-role.js';

export interface HomeboundStackProps extends StackProps {
  readonly config: HomeboundConfig;
}

/**
 * homebound in one account and Region: staging, the sync gateway's role, the failback functions, one state machine
 * per failback method (core/methods/registry.ts) with an ARN output each, the triggers routing by method, the
 * operators' notifications, the dashboard and alarms.
 */
export class HomeboundStack extends Stack {
  readonly staging: Staging;
  readonly functions: FailbackFunctions;
  /** One state machine per registered method, by method name. */
  readonly failbackStateMachines: Readonly<Record<FailbackMethodName, FailbackStateMachine>>;
  /** The automated method's state machine (construct id `AutomatedFailback`, as before the methods seam). */
  readonly automatedFailback: FailbackStateMachine;
  readonly triggers: FailbackTriggers;
  /** The operators' topic: run-status changes and alarms. */
  readonly notifications: OperatorNotifications;
  readonly monitoring: FailbackMonitoring;
  readonly approvals: Approvals;
  /** The activity the on-prem agent answers (the conditional-automated method's on-prem steps). */
  readonly agentActivity: AgentActivity;
  readonly agent: AgentRole;
  /** The on-prem S3-compatible staging store, when `homebound:onPremStagingEndpoint` names one. */
  readonly onPremStaging: OnPremStagingStore | undefined;

  constructor(scope: Construct, id: string, props: HomeboundStackProps) {
    super(scope, id, props);
    const { config } = props;
    if (config.imageId === EXAMPLE_IMAGE_ID) {
      Annotations.of(this).addWarningV2(
        'homebound:example-config',
        'homebound:imageId is the example from cdk.json: set your own image, VPC, subnet and zone before deploying',
      );
    }
    this.staging = new Staging(this, 'Staging', {
      expiryDays: config.stagingExpiryDays,
      kmsKeyArn: config.stagingKmsKeyArn,
    });
    const gatewayArtifact = new GatewayArtifact(this, 'GatewayArtifact');
    const gateway = new SyncGatewayRole(this, 'SyncGateway', { staging: this.staging, artifact: gatewayArtifact });
    const gatewayGroup = new GatewaySecurityGroup(this, 'GatewaySecurityGroup', {
      vpcId: config.vpcId,
      availabilityZone: config.availabilityZone,
    });
    if (config.securityGroupIds.length === 0) {
      Annotations.of(this).addWarningV2(
        'homebound:no-failback-security-groups',
        "homebound:securityGroupIds is empty: failback hosts get the sync gateways' group (no ingress, HTTPS out " +
          "only); set your workload's groups before a real failback",
      );
    }
    const healthCheckGroup = new HealthCheckSecurityGroup(this, 'HealthCheckSecurityGroup', {
      vpc: gatewayGroup.vpc,
      failbackSecurityGroupIds: config.securityGroupIds,
    });
    this.functions = new FailbackFunctions(this, 'FailbackFunctions', {
      config,
      network: { vpc: gatewayGroup.vpc, securityGroup: healthCheckGroup.securityGroup },
      staging: this.staging,
      gatewayRole: gateway.role,
      gatewayInstanceProfileArn: gateway.instanceProfile.instanceProfileArn,
      gatewaySecurityGroupId: gatewayGroup.securityGroup.securityGroupId,
      gatewayArtifact,
    });
    const ackSecret = new GatewayAckSecret(this, 'GatewayAckSecret');
    this.approvals = new Approvals(this, 'Approvals', { config });
    this.approvals.connectRequester(this.functions.byTask.RequestApproval);
    this.approvals.connectVerifier(this.functions.byTask.VerifyDecision);
    const onPremStore = onPremStagingOf(config);
    this.onPremStaging = onPremStore
      ? new OnPremStagingStore(this, 'OnPremStaging', { ...onPremStore, key: this.approvals.key })
      : undefined;
    // With an on-prem store, the methods whose passes the on-prem agent applies get pass functions of their own that
    // stage there (the wiring's choice, as core/wiring/local-onprem.ts makes it locally); the automated method's keep
    // the stack's bucket, which its sync gateways read. No other function sees the store or its keys.
    const onPremPassFunctions = this.onPremStaging ? this.functions.variant('OnPrem', ON_PREM_PASS_TASKS) : undefined;
    if (onPremPassFunctions) this.onPremStaging?.grantTo(Object.values(onPremPassFunctions));
    // PlanOnPremRun hands the on-prem agent its run key as PrepareTarget hands a sync gateway its own.
    ackSecret.grantTo([
      this.functions.byTask.PrepareTarget,
      this.functions.byTask.PlanOnPremRun,
      this.functions.byTask.CheckApplied,
      ...(onPremPassFunctions ? [onPremPassFunctions.CheckApplied] : []),
      // Verifies the seed record a gateway or the agent signed before it plans a seeded pass from it.
      this.functions.byTask.StreamPass,
      ...(onPremPassFunctions ? [onPremPassFunctions.StreamPass] : []),
      // Verifies the acks it keeps as the proof of what a rolled-back run's target volumes hold.
      this.functions.byTask.CleanUp,
    ]);
    this.agentActivity = new AgentActivity(this, 'AgentActivity');
    this.agent = new AgentRole(this, 'Agent', {
      activity: this.agentActivity.activity,
      // With an on-prem store the agent reads and writes it with the store's own keys, not IAM.
      staging: this.onPremStaging ? undefined : this.staging,
      caCertificatePem: config.agentCaCertificate ? readAgentCaCertificate(config.agentCaCertificate) : undefined,
      trustAnchorArn: config.agentTrustAnchorArn,
      certificateCommonName: config.agentCertificateCommonName,
    });
    const machines = failbackMethods.map((method) => {
      const onPrem = usesAgentActivity(method);
      return new FailbackStateMachine(this, method.constructId, {
        method,
        functions:
          onPrem && onPremPassFunctions ? { ...this.functions.byTask, ...onPremPassFunctions } : this.functions.byTask,
        encryptionKey: this.approvals.key,
        staging: this.staging,
        ...(onPrem ? { otherSubstitutions: this.agentActivity.substitutions() } : {}),
      });
    });
    this.failbackStateMachines = Object.fromEntries(
      machines.map((machine) => [machine.method.name, machine]),
    ) as Record<FailbackMethodName, FailbackStateMachine>;
    this.automatedFailback = this.failbackStateMachines.automated;
    const stateMachines = machines.map((machine) => machine.stateMachine);
    this.triggers = new FailbackTriggers(this, 'Triggers', { routes: machines });
    this.notifications = new OperatorNotifications(this, 'Notifications', {
      stateMachines,
      emails: config.notificationEmails,
    });
    this.monitoring = new FailbackMonitoring(this, 'Monitoring', {
      stateMachines: machines,
      alarmTopic: this.notifications.topic,
    });

    this.approvals.allowDecisions(stateMachines);
    if (config.approvers.length === 0 && config.slackApprovers.length === 0) {
      Annotations.of(this).addWarningV2(
        'homebound:no-approvers',
        'neither homebound:approvers nor homebound:slackApprovers is set: every automated run rolls back at approval',
      );
    }

    new CfnOutput(this, 'StagingBucketName', { value: this.staging.bucket.bucketName });
    new CfnOutput(this, 'ApprovalPageUrl', { value: this.approvals.pageUrl.url });
    new CfnOutput(this, 'SlackInteractivityUrl', { value: this.approvals.slackUrl.url });
    new CfnOutput(this, 'SlackCredentialsSecretArn', { value: this.approvals.slackSecret.secretArn });
    for (const machine of machines) {
      new CfnOutput(this, machine.method.stateMachineArnOutput, { value: machine.stateMachine.stateMachineArn });
    }
    new CfnOutput(this, FAILBACK_EVENT_BUS_OUTPUT, { value: this.triggers.eventBus.eventBusName });
    new CfnOutput(this, 'FailbackDeadLetterQueueUrl', { value: this.triggers.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'NotificationTopicArn', { value: this.notifications.topic.topicArn });
    new CfnOutput(this, 'DashboardName', { value: this.monitoring.dashboard.dashboardName });
    // The failback hosts' groups admit it on the ports their health checks name (docs/health-checks.md).
    new CfnOutput(this, 'HealthCheckSecurityGroupId', { value: healthCheckGroup.securityGroup.securityGroupId });
    this.addAgentOutputs();
  }

  /** What the agent's config and its Roles Anywhere setup take from the stack (docs/agent.md). */
  private addAgentOutputs(): void {
    const { agent } = this;
    new CfnOutput(this, AGENT_ACTIVITY_ARN_OUTPUT, { value: this.agentActivity.activity.activityArn });
    new CfnOutput(this, 'AgentPolicyArn', { value: agent.policy.managedPolicyArn });
    if (agent.role) new CfnOutput(this, 'AgentRoleArn', { value: agent.role.roleArn });
    if (agent.trustAnchor) new CfnOutput(this, 'AgentTrustAnchorArn', { value: agent.trustAnchor.attrTrustAnchorArn });
    if (agent.profile) new CfnOutput(this, 'AgentProfileArn', { value: agent.profile.attrProfileArn });
    if (!agent.role) {
      new CfnOutput(this, 'AgentRolesAnywhere', {
        value:
          'No agent role: no trust anchor is configured. Deploy with -c homebound:agentCaCertificate=<CA PEM file> ' +
          '(the stack creates the trust anchor, role and profile) or -c homebound:agentTrustAnchorArn=<ARN>; or ' +
          'attach AgentPolicyArn to the principal the agent uses (docs/agent.md).',
      });
    }
    if (this.onPremStaging) {
      new CfnOutput(this, 'OnPremStagingCredentialsSecretArn', { value: this.onPremStaging.secret.secretArn });
    }
  }
}
