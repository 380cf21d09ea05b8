import { z } from 'zod';
import type { AwsConnection } from '../core/adapters/aws/clients.js';
import { parseEnvironment } from '../core/environment.js';

/** The standard AWS variables the CLI honours; the local cloud prints exactly these. */
const AwsEnv = z.object({
  AWS_REGION: z.string().min(1).optional(),
  AWS_DEFAULT_REGION: z.string().min(1).optional(),
  AWS_ENDPOINT_URL: z.url().optional(),
  AWS_ENDPOINT_URL_EBS: z.url().optional(),
  AWS_ENDPOINT_URL_S3: z.url().optional(),
});

export interface AwsConnections {
  readonly ebs: AwsConnection;
  readonly s3: AwsConnection;
}

/**
 * Endpoints and Region from the environment. Credentials are left to the SDK's default chain (env, profile, role),
 * so nothing secret passes through homebound's own code.
 * @throws InvalidInputError naming the variable that is malformed.
 */
export function awsConnectionsFromEnv(env: NodeJS.ProcessEnv = process.env): AwsConnections {
  const vars = parseEnvironment(AwsEnv, env);
  const region = vars.AWS_REGION ?? vars.AWS_DEFAULT_REGION;
  return {
    ebs: { region, endpoint: vars.AWS_ENDPOINT_URL_EBS ?? vars.AWS_ENDPOINT_URL },
    s3: { region, endpoint: vars.AWS_ENDPOINT_URL_S3 ?? vars.AWS_ENDPOINT_URL },
  };
}
