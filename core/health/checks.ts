import { z } from 'zod';
import { InvalidHealthCheckError } from './errors.js';

/**
 * The health checks a failback host must pass before its wave counts as serving (docs/health-checks.md): one zod
 * schema per check type, a discriminated union on `type`. The per-host request settings import `HealthCheck` from
 * here, so the request and the runner agree on one shape.
 */

/** The longest a TCP or HTTP check may take: a check runs inside one Lambda invocation (900 s) with the others. */
export const MAX_PROBE_TIMEOUT_SECONDS = 300;
/** The longest an SSM check may wait for its command: it must end within one invocation of CheckHostHealth. */
export const MAX_SSM_TIMEOUT_SECONDS = 600;

export const DEFAULT_TCP_TIMEOUT_SECONDS = 5;
export const DEFAULT_HTTP_TIMEOUT_SECONDS = 10;
export const DEFAULT_SSM_TIMEOUT_SECONDS = 120;
export const DEFAULT_SSM_DOCUMENT = 'AWS-RunShellScript';

const port = z.number().int().min(1).max(65_535);
const name = z.string().min(1).max(64).optional();
const probeTimeout = (defaultSeconds: number) =>
  z.number().int().min(1).max(MAX_PROBE_TIMEOUT_SECONDS).default(defaultSeconds);

/** The instance (EC2 `running`) or VM (vSphere `poweredOn`) is up. Implied for every host; listing it changes nothing. */
export const StateCheck = z.strictObject({ type: z.literal('state'), name });

/** A TCP connection to `port` on the host's address is accepted within `timeoutSeconds`. */
export const TcpCheck = z.strictObject({
  type: z.literal('tcp'),
  name,
  port,
  /** @default 5 */
  timeoutSeconds: probeTimeout(DEFAULT_TCP_TIMEOUT_SECONDS),
});

const status = z.number().int().min(100).max(599);

/** A GET of `path` on the host's address answers with an expected status within `timeoutSeconds`. */
export const HttpCheck = z.strictObject({
  type: z.literal('http'),
  name,
  scheme: z.enum(['http', 'https']).default('http'),
  /** @default 80 for http, 443 for https */
  port: port.optional(),
  path: z.string().max(2048).startsWith('/', 'path must start with "/"').default('/'),
  /** One status or a list of them. @default 200 */
  expectStatus: z.union([status, z.array(status).min(1)]).default(200),
  /** @default 10 */
  timeoutSeconds: probeTimeout(DEFAULT_HTTP_TIMEOUT_SECONDS),
  /**
   * The name sent as the Host header and, over https, as the TLS server name the certificate must carry (a
   * certificate rarely names a private IP). @default the host's address
   */
  hostName: z
    .string()
    .max(253)
    .regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/, 'hostName must be a DNS name such as shop.example.com')
    .optional(),
  /**
   * Accept any certificate (self-signed, or issued for a name while the check connects to the address). Only the
   * status is checked then, not who answered. @default false
   */
  insecureTls: z.boolean().default(false),
});

/** (AWS only) An SSM Run Command document run on the instance ends in `Success` within `timeoutSeconds`. */
export const SsmCheck = z.strictObject({
  type: z.literal('ssm'),
  name,
  /** @default AWS-RunShellScript */
  document: z.string().min(3).max(128).default(DEFAULT_SSM_DOCUMENT),
  /** The document's parameters, e.g. `{ "commands": ["systemctl is-active postgresql"] }`. */
  parameters: z.record(z.string(), z.array(z.string())).optional(),
  /** @default 120 */
  timeoutSeconds: z.number().int().min(1).max(MAX_SSM_TIMEOUT_SECONDS).default(DEFAULT_SSM_TIMEOUT_SECONDS),
});

export const HealthCheck = z.discriminatedUnion('type', [StateCheck, TcpCheck, HttpCheck, SsmCheck]);
export type HealthCheck = z.infer<typeof HealthCheck>;
export type HealthCheckType = HealthCheck['type'];
export type TcpCheck = z.infer<typeof TcpCheck>;
export type HttpCheck = z.infer<typeof HttpCheck>;
export type SsmCheck = z.infer<typeof SsmCheck>;

/** A host's checks; names must be unique within the host, as results are reported by name. */
export const HealthChecks = z
  .array(HealthCheck)
  .max(20)
  .superRefine((checks, context) => {
    const seen = new Set<string>();
    checks.forEach((check, index) => {
      const checkName = healthCheckName(check);
      if (seen.has(checkName)) {
        context.addIssue({
          code: 'custom',
          message: `two checks are named "${checkName}"; give one a "name"`,
          path: [index, 'name'],
        });
      }
      seen.add(checkName);
    });
  });

/** The name a check's result carries: its `name`, else one made from what it checks (`tcp:5432`, `https:443/health`). */
export function healthCheckName(check: HealthCheck): string {
  if (check.name) return check.name;
  switch (check.type) {
    case 'state':
      return 'state';
    case 'tcp':
      return `tcp:${check.port}`;
    case 'http':
      return `${check.scheme}:${httpPort(check)}${check.path}`;
    case 'ssm':
      return `ssm:${check.document}`;
  }
}

/** The port an HTTP check connects to: its own, else the scheme's. */
export function httpPort(check: HttpCheck): number {
  return check.port ?? (check.scheme === 'https' ? 443 : 80);
}

/**
 * Parses a host's checks (defaults filled in).
 * @param field where they sit in the caller's document, e.g. `hosts.2.healthChecks`: the error names the field there
 * @throws InvalidHealthCheckError naming the first bad field, e.g. `hosts.2.healthChecks.0.port`
 */
export function parseHealthChecks(value: unknown, field = 'healthChecks'): HealthCheck[] {
  const parsed = HealthChecks.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = [field, ...(issue?.path ?? []).map(String)].join('.');
  throw new InvalidHealthCheckError(`${path}: ${issue?.message ?? 'invalid'}`);
}
