/** An HTTP request as the approval endpoints see it, whichever server (Lambda function URL, node:http) received it. */
export interface ApprovalHttpRequest {
  readonly method: string;
  /** The path without the query string, e.g. `/approvals/abc`. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The raw body exactly as received (Slack signs these bytes). */
  readonly body: string;
  readonly sourceIp?: string | undefined;
}

export interface ApprovalHttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Largest body the endpoints read: a form post is a few hundred bytes, a Slack interaction a few kilobytes. */
export const MAX_BODY_BYTES = 64 * 1024;

/** Headers every approval page carries: never cached, never framed, no referrer, no scripts, no indexing. */
export const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'X-Robots-Tag': 'noindex, nofollow',
  'Content-Security-Policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
} as const;
