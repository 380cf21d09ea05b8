import { HomeboundError } from '../../errors.js';

/**
 * Missing AWS configuration, named for what to set. The SDK reports it as `Error: Region is missing` with its own
 * stack, or as a CredentialsProviderError with no HTTP status, which the service error mappings would otherwise call
 * transient and retry: neither helps an operator who simply has not chosen a Region or logged in.
 */

/** No Region: AWS_REGION unset and no profile supplies one. */
export class AwsRegionMissingError extends HomeboundError {
  constructor(purpose: string, options?: ErrorOptions) {
    super(
      `no AWS Region for ${purpose}: set AWS_REGION (e.g. AWS_REGION=eu-west-1), or AWS_PROFILE to a profile with a region in ~/.aws/config`,
      options,
    );
  }
}

/** The SDK's default credential chain found nothing. */
export class AwsCredentialsMissingError extends HomeboundError {
  constructor(purpose: string, profile: string | undefined, options?: ErrorOptions) {
    const tried =
      profile === undefined
        ? 'the default credential chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws, SSO, web identity, container or instance role) found none'
        : `profile "${profile}" (AWS_PROFILE) gave none: check it exists in ~/.aws/config or ~/.aws/credentials, or log in with \`aws sso login --profile ${profile}\``;
    super(
      `no AWS credentials for ${purpose}: ${tried}. Set AWS_PROFILE to a configured profile, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
      options,
    );
  }
}

/** What `assertAwsConfigured` needs of an SDK v3 client: its resolved Region and credential providers. */
export interface ConfiguredClient {
  readonly config: { readonly region: () => Promise<string>; readonly credentials: () => Promise<unknown> };
}

/**
 * The named error for an SDK error that only says configuration is missing, else undefined.
 * @param purpose what the call was for, e.g. `DescribeStacks on Homebound`
 */
export function awsConfigurationError(
  error: unknown,
  purpose: string,
  env: NodeJS.ProcessEnv = process.env,
): HomeboundError | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error.name === 'CredentialsProviderError') {
    return new AwsCredentialsMissingError(purpose, env.AWS_PROFILE || undefined, { cause: error });
  }
  // The SDK's region provider throws a plain Error; its message is the only mark it has.
  if (error.message === 'Region is missing') return new AwsRegionMissingError(purpose, { cause: error });
  return undefined;
}

/**
 * Resolves the client's Region and credentials through its own provider chain before any call, so a command that
 * lacks them stops first, naming what to set. The providers memoize, so the first real call reuses what they found.
 * @throws AwsRegionMissingError, AwsCredentialsMissingError
 */
export async function assertAwsConfigured(
  client: ConfiguredClient,
  purpose: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  try {
    await client.config.region();
    await client.config.credentials();
  } catch (error) {
    throw awsConfigurationError(error, purpose, env) ?? error;
  }
}
