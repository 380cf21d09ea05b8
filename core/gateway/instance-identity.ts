import { z } from 'zod';
import { HomeboundError } from '../errors.js';
import { InstanceArn, instanceArnPrefix } from './scope.js';

/** The instance metadata service's address on every EC2 instance. */
export const IMDS_ENDPOINT = 'http://169.254.169.254';

/** The gateway could not learn its own instance ARN from the instance metadata service. */
export class InstanceIdentityUnavailableError extends HomeboundError {}

const IdentityDocument = z.object({
  accountId: z.string().regex(/^\d{12}$/),
  region: z.string().min(1),
  instanceId: z.string().min(1),
});

export interface InstanceIdentityOptions {
  /**
   * Base URL of the metadata service. @default the `AWS_EC2_METADATA_SERVICE_ENDPOINT` environment variable (the
   * name the AWS SDKs use), else IMDS_ENDPOINT
   */
  readonly endpoint?: string;
  /** Per request. @default 2000 */
  readonly timeoutMs?: number;
}

/**
 * The ARN of the EC2 instance this process runs on, from IMDSv2 (a session token, then the instance identity
 * document and the partition): the ARN S3 sees as `${ec2:SourceInstanceARN}` on requests this instance's role signs,
 * so the gateway writes where its IAM policy lets it (core/gateway/scope.ts).
 * @throws InstanceIdentityUnavailableError when the service cannot be reached or answers something else
 */
export async function fetchInstanceArn(options: InstanceIdentityOptions = {}): Promise<string> {
  const endpoint = (options.endpoint ?? process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT ?? IMDS_ENDPOINT).replace(
    /\/+$/,
    '',
  );
  const timeoutMs = options.timeoutMs ?? 2000;
  const call = async (path: string, init: RequestInit): Promise<string> => {
    let response: Response;
    try {
      response = await fetch(`${endpoint}${path}`, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      throw new InstanceIdentityUnavailableError(
        `cannot reach the instance metadata service at ${endpoint} (${(error as Error).message}); pass --instance-arn when not on EC2`,
        { cause: error },
      );
    }
    if (!response.ok) {
      throw new InstanceIdentityUnavailableError(`instance metadata ${path} answered HTTP ${response.status}`);
    }
    return response.text();
  };
  const token = await call('/latest/api/token', {
    method: 'PUT',
    headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' },
  });
  const headers = { 'X-aws-ec2-metadata-token': token };
  const documentText = await call('/latest/dynamic/instance-identity/document', { headers });
  const partition = (await call('/latest/meta-data/services/partition', { headers })).trim();
  let raw: unknown;
  try {
    raw = JSON.parse(documentText);
  } catch (error) {
    throw new InstanceIdentityUnavailableError('the instance identity document is not JSON', { cause: error });
  }
  const document = IdentityDocument.safeParse(raw);
  if (!document.success) {
    throw new InstanceIdentityUnavailableError(
      `the instance identity document lacks ${document.error.issues.map((issue) => issue.path.join('.')).join(', ')}`,
    );
  }
  const { accountId, region, instanceId } = document.data;
  const arn = InstanceArn.safeParse(instanceArnPrefix(partition, region, accountId) + instanceId);
  if (!arn.success) {
    throw new InstanceIdentityUnavailableError(`instance metadata gave an ARN that is not one: ${arn.error.message}`);
  }
  return arn.data;
}
