/** Names the deployed stack (lib/) and its callers (the CLI, operators' scripts, docs) must agree on. Each method's
 * state machine ARN output is named in its description (core/methods/, `stateMachineArnOutput`). */

/**
 * The custom EventBridge event that requests a failback (docs/failback-request.md). Its `detail` is the failback
 * request itself (core/failback/request.ts), which becomes the execution's input unchanged.
 */
export const FAILBACK_REQUESTED_EVENT = {
  source: 'homebound',
  detailType: 'Failback Requested',
} as const;

/** The stack output naming the event bus "Failback Requested" events go to. */
export const FAILBACK_EVENT_BUS_OUTPUT = 'FailbackEventBusName';
