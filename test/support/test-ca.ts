import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_TEMP_ROOT_ENV } from './temp-root.js';

/**
 * A self-signed certificate made with openssl (as `.ci/run` installs it) in a fresh directory under the run's temp
 * root: a CA's (basicConstraints CA:TRUE, keyCertSign) or a leaf's (CA:FALSE). P-256 keys, valid one day.
 * @returns the PEM file's path
 */
export function makeTestCertificate(
  kind: 'ca' | 'leaf',
  commonName = `homebound-test-${kind}`,
  /** More `-addext` values, e.g. `subjectAltName=DNS:localhost,IP:127.0.0.1`. */
  extraExtensions: readonly string[] = [],
): string {
  const dir = mkdtempSync(join(process.env[TEST_TEMP_ROOT_ENV] ?? tmpdir(), `cert-${kind}-`));
  const cert = join(dir, 'cert.pem');
  const extensions =
    kind === 'ca'
      ? ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']
      : ['-addext', 'basicConstraints=critical,CA:FALSE'];
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      `/CN=${commonName}`,
      ...extensions,
      ...extraExtensions.flatMap((extension) => ['-addext', extension]),
    ],
    { stdio: 'ignore' },
  );
  return cert;
}
