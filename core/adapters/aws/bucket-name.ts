/**
 * S3's rules for a general purpose bucket name (3–63 characters; lower-case letters, digits, dots and hyphens;
 * a letter or digit at both ends; no `..`; not an IP address; no `xn--` prefix). The CLI checks a `--bucket` with it
 * so a malformed name is called invalid rather than missing, and the local S3 server refuses to create one.
 */
const BUCKET_NAME = /^(?!\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)(?!xn--)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Whether S3 would accept `name` for a new general purpose bucket. */
export function isValidBucketName(name: string): boolean {
  return BUCKET_NAME.test(name);
}
