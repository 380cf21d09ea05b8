import { z } from 'zod';
import { failbackMethods, knownMethodNames } from '../methods/registry.js';
import { InvalidFailbackRequestError, MissingTargetError, UnknownMethodError } from './errors.js';

export { DEFAULT_GATEWAY_LIVENESS, GatewayLiveness } from './request-fields.js';

/**
 * The failback request: the document an operator starts an execution with (console, EventBridge, `homebound start`,
 * `homebound drill`). Its `method` selects the variant, one per registered method (core/methods/registry.ts);
 * docs/failback-request.md describes every field.
 */
export const FailbackRequest = z.discriminatedUnion(
  'method',
  failbackMethods.map((method) => method.request) as unknown as [
    (typeof failbackMethods)[number]['request'],
    ...(typeof failbackMethods)[number]['request'][],
  ],
);
export type FailbackRequest = z.infer<typeof FailbackRequest>;

/**
 * Parses a request. The checks that decide which named error a DR engineer sees come first — method, then target —
 * then every other field of the method's variant, the message naming the first wrong one.
 * @throws UnknownMethodError (naming the known methods), MissingTargetError, InvalidFailbackRequestError
 */
export function parseFailbackRequest(input: unknown): FailbackRequest {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidFailbackRequestError('the failback request must be a JSON object');
  }
  const fields = input as Record<string, unknown>;
  if (!knownMethodNames.some((name) => name === fields.method)) {
    throw new UnknownMethodError(String(fields.method ?? '(missing)'), knownMethodNames);
  }
  if (fields.target === undefined || fields.target === null) throw new MissingTargetError();
  const parsed = FailbackRequest.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = innermostIssue(parsed.error.issues[0]);
  throw new InvalidFailbackRequestError(
    `failback request field ${fieldPath(issue?.path ?? [])}: ${issue?.message ?? 'invalid'}`,
  );
}

type Issue = { readonly path: readonly PropertyKey[]; readonly message: string; readonly code?: string };

/**
 * The issue to name. A host entry is a union (an id or an object), and zod reports a bad object as "Invalid input"
 * at the entry; the object branch's own first issue names the field that is wrong.
 */
function innermostIssue(issue: z.core.$ZodIssue | undefined): Issue | undefined {
  if (issue?.code !== 'invalid_union') return issue;
  const branches = issue.errors.filter((branch) => {
    const first = branch[0];
    return first !== undefined && !(first.code === 'invalid_type' && first.path.length === 0);
  });
  const inner = branches.length === 1 ? innermostIssue(branches[0]?.[0]) : undefined;
  return inner ? { ...inner, path: [...issue.path, ...inner.path] } : issue;
}

/** `hosts[3].failback.privateIp`: how a person writes a path into a JSON document. */
export function fieldPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(request)';
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`))
    .join('');
}
