import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { deriveRunKey } from '../../engine/run-key.js';
import { InvalidInputError } from '../../errors.js';

/**
 * The run keys of sync gateways on AWS: derived from the stack's gateway-ack secret (lib/gateway-ack-secret.ts),
 * which is read from Secrets Manager once per process and never logged. Only PrepareTarget and CheckApplied can read
 * it. A failed read is not cached, so the next invocation tries again.
 * @throws InvalidInputError when the secret has no string value (it is generated at deploy, so someone changed it)
 */
export function secretsManagerRunKeys(
  client: SecretsManagerClient,
  secretId: string,
): (runId: string) => Promise<Buffer> {
  let secret: Promise<string> | undefined;
  const read = async () => {
    const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    if (!SecretString) throw new InvalidInputError(`secret ${secretId} has no string value`);
    return SecretString;
  };
  return async (runId) => {
    secret ??= read().catch((error: unknown) => {
      secret = undefined;
      throw error;
    });
    return deriveRunKey(await secret, runId);
  };
}
