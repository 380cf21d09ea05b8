import { z } from 'zod';

/** The tag every takeover host carries; IAM and ValidateRequest both refuse an instance without it. */
export interface TakeoverTag {
  readonly key: string;
  readonly value: string;
}

/**
 * `key=value` (the value may itself hold `=`), as the CDK context key `homebound:takeoverTag` and the functions'
 * `HOMEBOUND_TAKEOVER_TAG` spell it.
 */
export const TakeoverTagSpec = z
  .string()
  .regex(/^[^=]+=.+$/, 'key=value')
  .transform((tag): TakeoverTag => {
    const at = tag.indexOf('=');
    return { key: tag.slice(0, at), value: tag.slice(at + 1) };
  });

/** The inverse of TakeoverTagSpec. */
export const formatTakeoverTag = (tag: TakeoverTag): string => `${tag.key}=${tag.value}`;

/** The takeover tag of the local cloud, the same as cdk.json's example, so drills rehearse the check AWS runs. */
export const LOCAL_TAKEOVER_TAG: TakeoverTag = { key: 'homebound:takeover', value: 'true' };
