import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';

export interface StagingProps {
  /** Staged passes under `runs/` expire after this many days, whether or not CleanUp ran. */
  readonly expiryDays: number;
  /** @default a new key with yearly rotation */
  readonly kmsKeyArn?: string | undefined;
}

/** Access a principal gets to staging; `readWrite` is what the failback functions need (they stage and clean up). */
export type StagingAccess = 'read' | 'readWrite';

/**
 * The S3 staging bucket every pass moves through: SSE-KMS, TLS only, public access blocked, versioning off (a pass is
 * rewritten whole, never edited, and old versions would only keep deleted segments billable), staged segments expire.
 * Access is logged to a separate bucket. The bucket is retained on stack deletion: it may hold run records.
 */
export class Staging extends Construct {
  readonly bucket: s3.Bucket;
  readonly key: kms.IKey;

  constructor(scope: Construct, id: string, props: StagingProps) {
    super(scope, id);
    this.key = props.kmsKeyArn
      ? kms.Key.fromKeyArn(this, 'Key', props.kmsKeyArn)
      : new kms.Key(this, 'Key', {
          description: 'homebound staging: delta segments, manifests and run records',
          enableKeyRotation: true,
          removalPolicy: RemovalPolicy.RETAIN,
        });

    // Server access logs cannot be delivered to an SSE-KMS bucket, so this one uses SSE-S3.
    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(365) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    NagSuppressions.addResourceSuppressions(accessLogs, [
      { id: 'AwsSolutions-S1', reason: 'This is the access log bucket of staging; logging it into itself would loop.' },
    ]);

    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'staging/',
      lifecycleRules: [
        {
          id: 'expire-runs',
          // A backstop for runs that never reached CleanUp; run records live under `records/` and are kept.
          prefix: 'runs/',
          expiration: Duration.days(props.expiryDays),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /**
   * Grants `grantee` object access below `prefix` (S3 wildcards: `runs/*`) and use of the key, with explicit actions
   * only (CDK's grantReadWrite uses `s3:GetObject*`-style wildcards).
   */
  grantObjects(grantee: iam.IGrantable, access: StagingAccess, prefix = 'runs/*'): void {
    for (const statement of this.objectStatements(access, prefix)) {
      grantee.grantPrincipal.addToPrincipalPolicy(statement);
    }
  }

  /**
   * What `grantObjects` grants, as statements: for a managed policy (the on-prem agent's, lib/agent-role.ts), which
   * is not a grantee itself.
   */
  objectStatements(access: StagingAccess, prefix = 'runs/*'): iam.PolicyStatement[] {
    const objectActions =
      access === 'read'
        ? ['s3:GetObject']
        : ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'];
    return [
      new iam.PolicyStatement({ actions: objectActions, resources: [this.bucket.arnForObjects(prefix)] }),
      this.listStatement(),
      this.keyStatement(),
    ];
  }

  /** ListBucket on the whole bucket: HeadBucket (the readiness check) is authorized by it without any s3:prefix. */
  grantList(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(this.listStatement());
  }

  /** Decrypt to read, GenerateDataKey to write under the bucket's default SSE-KMS. */
  grantKey(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(this.keyStatement());
  }

  private listStatement(): iam.PolicyStatement {
    return new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] });
  }

  private keyStatement(): iam.PolicyStatement {
    return new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [this.key.keyArn] });
  }
}
