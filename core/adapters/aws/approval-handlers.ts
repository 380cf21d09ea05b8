import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { sendDueReminders } from '../../approvals/reminders.js';
import { awsApprovals } from './approval-deps.js';
import { fromFunctionUrlEvent, toFunctionUrlResult } from './function-url.js';

/**
 * The Lambda handlers of the approval endpoints: a middy chain with the Powertools logger, one call into the core.
 * Each reads its deps once per process (awsApprovals).
 */

/** The approval page behind its function URL. */
export function createApprovalPageHandler(logger = new Logger({ serviceName: 'homebound-approvals' })) {
  return middy(async (event: LambdaFunctionURLEvent) => {
    const { page } = await awsApprovals(logger);
    if (!page)
      return { statusCode: 503, body: 'the approval page has no link key (HOMEBOUND_APPROVAL_LINK_KEY_SECRET)' };
    return toFunctionUrlResult(await page.handle(fromFunctionUrlEvent(event)));
  }).use(injectLambdaContext(logger));
}

/** Slack's interactivity request URL. */
export function createSlackInteractionHandler(logger = new Logger({ serviceName: 'homebound-approvals' })) {
  return middy(async (event: LambdaFunctionURLEvent) => {
    const { slack } = await awsApprovals(logger);
    if (!slack) return { statusCode: 503, body: 'Slack is not configured for homebound approvals' };
    return toFunctionUrlResult(await slack.handle(fromFunctionUrlEvent(event)));
  }).use(injectLambdaContext(logger));
}

/** The scheduled reminder and timeout sweep. */
export function createApprovalRemindersHandler(logger = new Logger({ serviceName: 'homebound-approvals' })) {
  return middy(async () => {
    const { store, notifier } = await awsApprovals(logger);
    return sendDueReminders({ store, notifier, now: () => new Date(), logger });
  }).use(injectLambdaContext(logger));
}
