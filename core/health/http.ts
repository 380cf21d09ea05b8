import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type HttpCheck, httpPort } from './checks.js';
import { describeSocketError, type ProbeLimits, type ProbeOutcome, withProbeLimits } from './probe.js';

/** TLS verification codes an operator can answer with `insecureTls` (a self-signed or otherwise unknown issuer). */
const UNTRUSTED_CERTIFICATE = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The statuses an HTTP check accepts. */
export function expectedStatuses(check: HttpCheck): readonly number[] {
  return typeof check.expectStatus === 'number' ? [check.expectStatus] : check.expectStatus;
}

/**
 * Whether a GET of the check's path on `address` answers with an expected status within the limit. Only the status
 * line counts; the body is not read. node:http(s) rather than fetch: fetch cannot turn off certificate verification
 * for one request (`insecureTls`) without undici's own Agent, and no connection is pooled between probes.
 */
export function probeHttp(address: string, check: HttpCheck, limits: ProbeLimits): Promise<ProbeOutcome> {
  const port = httpPort(check);
  // An IPv6 address is written in brackets in a URL.
  const host = address.includes(':') ? `[${address}]` : address;
  const what = `GET ${check.scheme}://${host}:${port}${check.path}`;
  const expected = expectedStatuses(check);
  return withProbeLimits(limits, what, (settle) => {
    const options = {
      host: address,
      port,
      path: check.path,
      method: 'GET',
      agent: false,
      ...(check.hostName ? { headers: { host: check.hostName } } : {}),
    } as const;
    const onResponse = (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      response.resume();
      settle(
        expected.includes(status)
          ? { passed: true, detail: `${what}: ${status}` }
          : { passed: false, detail: `${what}: ${status}, expected ${expected.join(' or ')}` },
      );
    };
    const request =
      check.scheme === 'https'
        ? httpsRequest(
            {
              ...options,
              rejectUnauthorized: !check.insecureTls,
              ...(check.hostName ? { servername: check.hostName } : {}),
            },
            onResponse,
          )
        : httpRequest(options, onResponse);
    request.once('error', (error) => {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      const hint = UNTRUSTED_CERTIFICATE.has(code) ? '; set insecureTls to accept this certificate' : '';
      settle({ passed: false, detail: `${what}: ${describeSocketError(error)}${hint}` });
    });
    request.end();
    return () => request.destroy();
  });
}
