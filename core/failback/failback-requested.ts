/**
 * The custom EventBridge event that requests a failback (docs/failback-requested-event.md). Its `detail` is the
 * failback request itself (core/failback/request.ts), which becomes the execution's input unchanged.
 */
export const FAILBACK_REQUESTED_EVENT = {
  source: 'homebound',
  detailType: 'Failback Requested',
} as const;
