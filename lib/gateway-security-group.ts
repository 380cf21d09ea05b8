import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';

export interface GatewaySecurityGroupProps {
  /** The VPC of the configured subnet (`homebound:vpcId`); the stack cannot derive it without a lookup at synth. */
  readonly vpcId: string | undefined;
  /** The configured zone: an imported VPC names at least one. */
  readonly availabilityZone: string;
}

/**
 * The sync gateways' security group: no ingress at all, egress HTTPS (443) only — a gateway only reaches out to S3
 * (staging, its bundle) and needs nothing else (the VPC's DNS resolver and instance metadata are not filtered by
 * security groups). Used instead of the VPC's default group, which usually admits traffic from its own members.
 */
export class GatewaySecurityGroup extends Construct {
  readonly securityGroup: ec2.SecurityGroup;
  /** The imported VPC of `homebound:vpcId`, for the stack's other groups. */
  readonly vpc: ec2.IVpc;

  /** @throws Error naming `homebound:vpcId` when it is missing: the group cannot be created without its VPC */
  constructor(scope: Construct, id: string, props: GatewaySecurityGroupProps) {
    super(scope, id);
    if (props.vpcId === undefined) {
      throw new Error(
        'invalid homebound configuration (CDK context): homebound:vpcId: required: the VPC of homebound:subnetId, ' +
          "where the stack creates the sync gateways' security group (e.g. -c homebound:vpcId=vpc-0123abcd)",
      );
    }
    const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId: props.vpcId,
      availabilityZones: [props.availabilityZone],
    });
    this.vpc = vpc;
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc,
      description: 'homebound sync gateways: no ingress, HTTPS out only',
      allowAllOutbound: false,
    });
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to S3 (staging, gateway bundle)');
  }
}
