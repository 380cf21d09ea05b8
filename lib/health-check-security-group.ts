import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';

export interface HealthCheckSecurityGroupProps {
  /** The VPC of the configured subnet, where CheckHostHealth runs. */
  readonly vpc: ec2.IVpc;
  /** The failback hosts' groups (`homebound:securityGroupIds`): TCP and HTTP checks connect only to their members. */
  readonly failbackSecurityGroupIds: readonly string[];
}

/**
 * The group of the functions that run health checks inside the VPC (CheckHostHealth): no ingress; egress TCP on
 * any port to the members of the failback hosts' groups (a check may name any port), and HTTPS (443) to anywhere for
 * the AWS APIs it calls (EC2, SSM) through the subnet's NAT or VPC endpoints. The failback hosts' own groups must
 * admit this group on the checked ports (docs/health-checks.md): a security group refuses what it does not allow in.
 */
export class HealthCheckSecurityGroup extends Construct {
  readonly securityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: HealthCheckSecurityGroupProps) {
    super(scope, id);
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'homebound health checks: no ingress, TCP out to the failback hosts, HTTPS out to AWS APIs',
      allowAllOutbound: false,
    });
    this.securityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      'HTTPS to the AWS APIs (EC2, SSM) through NAT or VPC endpoints, and https checks on 443',
    );
    for (const groupId of props.failbackSecurityGroupIds) {
      this.securityGroup.addEgressRule(
        ec2.Peer.securityGroupId(groupId),
        ec2.Port.allTcp(),
        `TCP and HTTP(S) health checks of the failback hosts in ${groupId}`,
      );
    }
  }
}
