import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { secretsManagerRunKeys } from '../../core/adapters/aws/gateway-ack-secret.js';
import { deriveRunKey } from '../../core/engine/run-key.js';

const secrets = mockClient(SecretsManagerClient);
afterEach(() => secrets.reset());

describe('gateway run keys on AWS (Secrets Manager)', () => {
  it('derives a distinct key per run from one read of the stack secret', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: 'arn:secret:ack' }).resolves({ SecretString: 'stack-secret' });
    const runKeys = secretsManagerRunKeys(new SecretsManagerClient({}), 'arn:secret:ack');

    const a = await runKeys('run-a');
    const b = await runKeys('run-b');

    expect(a).toEqual(deriveRunKey('stack-secret', 'run-a'));
    expect(b).toEqual(deriveRunKey('stack-secret', 'run-b'));
    expect(a.equals(b)).toBe(false);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('reads the secret again after a failed read instead of caching the failure', async () => {
    secrets.on(GetSecretValueCommand).rejectsOnce(new Error('throttled')).resolves({ SecretString: 'stack-secret' });
    const runKeys = secretsManagerRunKeys(new SecretsManagerClient({}), 'arn:secret:ack');

    await expect(runKeys('run-a')).rejects.toThrow('throttled');
    await expect(runKeys('run-a')).resolves.toEqual(deriveRunKey('stack-secret', 'run-a'));
  });
});
