import { InvalidArgumentError } from 'commander';
import { isValidBucketName } from '../core/adapters/aws/bucket-name.js';

/** Commander parser for a whole number ≥ min; the error names the option through commander. */
export function integerAtLeast(min: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!(Number.isInteger(parsed) && parsed >= min))
      throw new InvalidArgumentError(`expected a whole number ≥ ${min}, got "${value}"`);
    return parsed;
  };
}

/** Commander parser for a number in [min, max]. */
export function numberBetween(min: number, max: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!(Number.isFinite(parsed) && parsed >= min && parsed <= max)) {
      throw new InvalidArgumentError(`expected a number from ${min} to ${max}, got "${value}"`);
    }
    return parsed;
  };
}

/** Commander parser for a TCP port that leaves room for `next` more ports after it. */
export function portWithNext(next: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!(Number.isInteger(parsed) && parsed >= 1 && parsed + next <= 65535)) {
      throw new InvalidArgumentError(`expected a port from 1 to ${65535 - next}, got "${value}"`);
    }
    return parsed;
  };
}

/**
 * Commander parser for an S3 bucket name. A malformed name is a usage error ("invalid name"), found before any call,
 * instead of S3's answer to it, which reads as "does not exist".
 */
export function bucketName(value: string): string {
  if (!isValidBucketName(value)) {
    throw new InvalidArgumentError(
      'invalid name: a bucket name is 3–63 lower-case letters, digits, dots or hyphens, starting and ending with a letter or digit',
    );
  }
  return value;
}

/**
 * Commander parser for a key prefix inside a bucket, e.g. `runs/run-1/`. A leading `/` or an empty, `.` or `..`
 * segment would name keys other tools (and S3 consoles) show as a different path, so they are refused.
 */
export function keyPrefix(value: string): string {
  if (value.startsWith('/')) {
    throw new InvalidArgumentError('a key prefix is relative to the bucket; drop the leading "/"');
  }
  const segments = value.split('/').slice(0, value.endsWith('/') ? -1 : undefined);
  if (value !== '' && segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw new InvalidArgumentError('a key prefix may not hold an empty, "." or ".." segment');
  }
  return value;
}
