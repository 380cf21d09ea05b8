import { HomeboundError } from '../../errors.js';

/**
 * Missing AWS configuration, named for what to set. The SDK reports it as `Error: Region is missing` with its own
 * stack, or as a CredentialsProviderError with no HTTP status, which the service error mappings would otherwise call
 * transient and retry: neither helps an operator who simply has not chosen a Region or logged in.
 */

/** No Region: AWS_REGION unset and no profile supplies one. */
export class AwsRegionMissingError extends HomeboundError {
  constructor(purpose: string, alternative: string | undefined, options?: ErrorOptions) {
    super(
      `no AWS Region for ${purpose}: set AWS_REGION (e.g. AWS_REGION=eu-west-1), or AWS_PROFILE to a profile with a region in ~/.aws/config${alternative ? `, or ${alternative}` : ''}`,
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

/** What the messages say about the call that lacks configuration. */
export interface AwsCallDescription {
  /** What the call was for, e.g. `DescribeStacks on Homebound`. */
  readonly purpose: string;
  /** Another way to give the Region, e.g. `pass --state-machine-arn (its ARN names the Region)`. */
  readonly regionAlternative?: string;
  /** Where AWS_PROFILE is read for the message. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/** The named error for an SDK error that only says configuration is missing, else undefined. */
export function awsConfigurationError(error: unknown, call: AwsCallDescription): HomeboundError | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error.name === 'CredentialsProviderError') {
    const profile = (call.env ?? process.env).AWS_PROFILE || undefined;
    return new AwsCredentialsMissingError(call.purpose, profile, { cause: error });
  }
  // The SDK's region provider throws a plain Error; its message is the only mark it has.
  if (error.message === 'Region is missing') {
    return new AwsRegionMissingError(call.purpose, call.regionAlternative, { cause: error });
  }
  return undefined;
}

/**
 * Resolves the client's Region and credentials through its own provider chain before any call, so a command that
 * lacks them stops first, naming what to set. The providers memoize, so the first real call reuses what they found.
 * @throws AwsRegionMissingError, AwsCredentialsMissingError
 */
export async function assertAwsConfigured(client: ConfiguredClient, call: AwsCallDescription): Promise<void> {
  try {
    await client.config.region();
    await client.config.credentials();
  } catch (error) {
    throw awsConfigurationError(error, call) ?? error;
  }
}
