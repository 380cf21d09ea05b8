import { InvalidArgumentError } from 'commander';

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
