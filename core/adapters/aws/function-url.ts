import type { LambdaFunctionURLEvent, LambdaFunctionURLResult } from 'aws-lambda';
import type { ApprovalHttpRequest, ApprovalHttpResponse } from '../../approvals/http.js';

/** A Lambda function URL event as the approval endpoints' request (the raw body decoded, bytes unchanged). */
export function fromFunctionUrlEvent(event: LambdaFunctionURLEvent): ApprovalHttpRequest {
  const raw = event.body ?? '';
  return {
    method: event.requestContext.http.method,
    path: event.rawPath,
    query: new URLSearchParams(event.rawQueryString ?? ''),
    headers: Object.fromEntries(
      Object.entries(event.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]),
    ),
    body: event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw,
    sourceIp: event.requestContext.http.sourceIp,
  };
}

export function toFunctionUrlResult(response: ApprovalHttpResponse): LambdaFunctionURLResult {
  return { statusCode: response.status, headers: { ...response.headers }, body: response.body };
}
