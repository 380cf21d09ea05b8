import { createHmac } from 'node:crypto';
import { SlackRequestStaleError, SlackSignatureInvalidError } from './errors.js';
import { sameSignature } from './signed-link.js';

/** Slack's replay window: requests whose timestamp is further than this from now are refused. */
export const SLACK_MAX_AGE_SECONDS = 300;

/** `v0=` + hex HMAC-SHA256(signing secret, `v0:<timestamp>:<raw body>`), as Slack signs a request. */
export function slackSignature(signingSecret: string, timestamp: string, rawBody: string): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:${rawBody}`).digest('hex')}`;
}

/**
 * Verifies a request from Slack over its raw body: the timestamp within 300 s of now (either way), then the v0
 * signature in constant time.
 * @throws SlackRequestStaleError, SlackSignatureInvalidError
 */
export function verifySlackRequest(
  signingSecret: string,
  headers: Readonly<Record<string, string | undefined>>,
  rawBody: string,
  nowSeconds: number,
): void {
  const timestamp = headers['x-slack-request-timestamp'] ?? '';
  const signature = headers['x-slack-signature'] ?? '';
  if (!/^\d{1,12}$/.test(timestamp) || !/^v0=[0-9a-f]{64}$/.test(signature)) {
    throw new SlackSignatureInvalidError('X-Slack-Request-Timestamp or X-Slack-Signature missing or malformed');
  }
  if (Math.abs(nowSeconds - Number(timestamp)) > SLACK_MAX_AGE_SECONDS) {
    throw new SlackRequestStaleError(
      `Slack request timestamp ${timestamp} is more than ${SLACK_MAX_AGE_SECONDS} s from now`,
    );
  }
  if (!sameSignature(slackSignature(signingSecret, timestamp, rawBody), signature)) {
    throw new SlackSignatureInvalidError('X-Slack-Signature does not match the body');
  }
}
