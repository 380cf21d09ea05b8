/**
 * Device names a sync gateway's target volumes take, in order: EC2's recommended range for EBS data volumes,
 * /dev/sdf–/dev/sdz. Their number (21) is the most volumes one gateway holds, and so the cap of the request's
 * `target.volumesPerGateway` (docs/sync-gateway.md). A leaf module: the request schema reads it too.
 */
export const GATEWAY_DEVICES: readonly string[] = Array.from('fghijklmnopqrstuvwxyz', (letter) => `/dev/sd${letter}`);

/** The most target volumes one sync gateway holds, and the default of `target.volumesPerGateway`. */
export const MAX_VOLUMES_PER_GATEWAY = GATEWAY_DEVICES.length;
