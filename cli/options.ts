import { type Command, InvalidArgumentError } from 'commander';
import { isValidBucketName } from '../core/adapters/aws/bucket-name.js';
import type { EbsFaults } from '../core/localcloud/ebs-faults.js';

/** Commander parser for a whole number ≥ min; the error names the option through commander. */
export function integerAtLeast(min: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!(Number.isInteger(parsed) && parsed >= min))
      throw new InvalidArgumentError(`expected a whole number ≥ ${min}, got "${value}"`);
    return parsed;
  };
}

/** Commander parser for a whole number in [min, max]. */
export function integerBetween(min: number, max: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!(Number.isInteger(parsed) && parsed >= min && parsed <= max)) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}, got "${value}"`);
    }
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

/** Commander parser for a share in [0, 1): 1 would fail every call, and a pass would never end. */
export function shareBelowOne(value: string): number {
  const parsed = Number(value);
  if (!(value.trim() !== '' && Number.isFinite(parsed) && parsed >= 0 && parsed < 1)) {
    throw new InvalidArgumentError(`expected a share from 0 up to (not including) 1, got "${value}"`);
  }
  return parsed;
}

/** One fault knob of the local EBS server as a command-line option. */
interface FaultKnob {
  /** The option's name without the command's prefix, and its argument. */
  readonly name: string;
  readonly argument?: string;
  /** Whether the command's prefix (`ebs-` on drill and bench) applies: the block-level knobs read well without. */
  readonly prefixed: boolean;
  readonly description: string;
  readonly parse?: (value: string) => number;
}

const FAULT_KNOBS = {
  latencyMs: {
    name: 'latency-ms',
    argument: '<n>',
    prefixed: true,
    description: 'latency added to every EBS call',
    parse: integerAtLeast(0),
  },
  quotaPerSnapshot: {
    name: 'quota',
    argument: '<n>',
    prefixed: true,
    description: 'GetSnapshotBlock/PutSnapshotBlock requests per second per snapshot (AWS: 1000)',
    parse: integerAtLeast(1),
  },
  throttleRate: {
    name: 'throttle-rate',
    argument: '<share>',
    prefixed: true,
    description: 'share of block calls answered with throttling at random, whatever the rate (0 to <1)',
    parse: shareBelowOne,
  },
  errorRate: {
    name: 'error-rate',
    argument: '<share>',
    prefixed: true,
    description: 'share of EBS calls answered with a 500 at random (0 to <1)',
    parse: shareBelowOne,
  },
  corruptBlocks: {
    name: 'corrupt-blocks',
    argument: '<n>',
    prefixed: false,
    description: 'corrupt the next N block bodies under a correct checksum',
    parse: integerAtLeast(0),
  },
  shortPages: {
    name: 'short-pages',
    prefixed: false,
    description: 'answer List calls with pages shorter than asked, some empty',
  },
} as const satisfies Record<keyof EbsFaults, FaultKnob>;

export type FaultKnobName = keyof typeof FAULT_KNOBS;

const camelCase = (flag: string) => flag.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
const flagOf = (knob: FaultKnob, prefix: string) => (knob.prefixed ? prefix : '') + knob.name;

/**
 * Adds the local cloud's EBS fault knobs (core/localcloud/ebs-faults.ts) to a command, so `local-cloud`, `drill` and
 * `bench` rehearse the same faults under the same names: `prefix` is '' for `local-cloud` (`--throttle-rate`) and
 * 'ebs-' where the command has other knobs (`--ebs-throttle-rate`). A bad value exits 2, naming the flag.
 */
export function addEbsFaultOptions(
  command: Command,
  prefix: string,
  knobs: readonly FaultKnobName[] = Object.keys(FAULT_KNOBS) as FaultKnobName[],
): Command {
  for (const key of knobs) {
    const knob: FaultKnob = FAULT_KNOBS[key];
    const flag = `--${flagOf(knob, prefix)}${knob.argument ? ` ${knob.argument}` : ''}`;
    if (knob.parse) command.option(flag, knob.description, knob.parse);
    else command.option(flag, knob.description);
  }
  return command;
}

/** The knobs given on the command line (by `addEbsFaultOptions` with the same prefix); absent ones stay unset. */
export function ebsFaultsFrom(options: object, prefix: string): EbsFaults {
  const given = options as Record<string, unknown>;
  const faults: Record<string, unknown> = {};
  for (const [key, knob] of Object.entries(FAULT_KNOBS) as [FaultKnobName, FaultKnob][]) {
    const value = given[camelCase(flagOf(knob, prefix))];
    if (value !== undefined) faults[key] = value;
  }
  return faults as EbsFaults;
}

/** The `homebound local-cloud` arguments that set `faults`, for a command that runs the local cloud as a process. */
export function localCloudFaultArgs(faults: EbsFaults): string[] {
  const args: string[] = [];
  for (const [key, knob] of Object.entries(FAULT_KNOBS) as [FaultKnobName, FaultKnob][]) {
    const value = faults[key];
    if (value === undefined || value === false) continue;
    args.push(`--${knob.name}`);
    if (knob.argument) args.push(String(value));
  }
  return args;
}
