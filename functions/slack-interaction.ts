import { createSlackInteractionHandler } from '../core/adapters/aws/approval-handlers.js';

/** Lambda behind Slack's interactivity URL: verifies the signature, decides as the clicking approver. */
export const handler = createSlackInteractionHandler();
