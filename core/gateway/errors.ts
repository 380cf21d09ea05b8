import { HomeboundError } from '../errors.js';

/** The block device of an attached volume did not appear on the gateway in time (attachment missing or stuck). */
export class GatewayDeviceMissingError extends HomeboundError {
  constructor(
    readonly volumeKey: string,
    readonly volumeId: string,
    readonly path: string,
    waitedMs: number,
  ) {
    super(
      `device of volume ${volumeId} (${volumeKey}) did not appear at ${path} within ${Math.round(waitedMs / 1000)} s`,
    );
  }
}
