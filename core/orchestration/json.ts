/** A JSON value as Step Functions passes it between states. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
/** A JSON object. */
export type JsonObject = { [key: string]: JsonValue };

/** True for a plain JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Thrown when a value that must cross a state boundary cannot be serialized as JSON. */
export class NotJsonSerializableError extends Error {
  constructor(what: string, options?: ErrorOptions) {
    super(`${what} is not JSON-serializable`, options);
    this.name = new.target.name;
  }
}

/**
 * Copies a value the way a Lambda payload or a state's data is copied on AWS: through JSON text. Class instances
 * become plain objects, Dates become strings, `undefined` becomes `null` (a Lambda that returns nothing yields null).
 * @throws NotJsonSerializableError for BigInt, cycles and the like.
 */
export function jsonCopy(value: unknown, what: string): JsonValue {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new NotJsonSerializableError(what, { cause: error });
  }
  if (text === undefined) return null;
  // The text was produced by JSON.stringify a line above, so parsing it back can only yield JSON.
  const copy: JsonValue = JSON.parse(text);
  return copy;
}

/** UTF-8 size of the JSON text of a value, the unit of Step Functions' 256 KiB payload quota. */
export function jsonByteLength(value: JsonValue): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}
