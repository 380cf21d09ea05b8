/**
 * The arithmetic of a map run: its settings read from the input, items cut into batches, and the failure tolerance.
 * Pure functions, apart from evaluating the `*Path` settings through the library.
 */
import { type DistributedMapConfig, MAP_RUN_SETTINGS, type MapRunSettings } from './distributed-map-config.js';
import { StatesTaskError, TerminalStatesError } from './invocation.js';
import { isJsonObject, type JsonObject, type JsonValue, jsonByteLength } from './json.js';
import { PayloadTemplate } from './payload-template.js';

/** The input of one child execution and how many items it carries. */
export interface ChildWork {
  readonly input: JsonValue;
  readonly itemCount: number;
}

/** Reads a map run's `*Path` settings from the effective input; the template is built once per state. */
export class MapRunSettingsReader {
  private readonly template: PayloadTemplate | undefined;

  constructor(private readonly config: DistributedMapConfig) {
    const paths = Object.entries(config.settingPaths);
    this.template =
      paths.length === 0 ? undefined : new PayloadTemplate(Object.fromEntries(paths.map(([k, p]) => [`${k}.$`, p])));
  }

  /**
   * The settings of one map run.
   * @throws StatesTaskError States.Runtime when a path resolves to nothing or to a value AWS would refuse.
   */
  async read(input: JsonValue, context: JsonObject): Promise<MapRunSettings> {
    if (this.template === undefined) return this.config.settings;
    const values = await this.template.evaluate(input, context);
    const resolved: Record<string, number | undefined> = { ...this.config.settings };
    for (const rule of MAP_RUN_SETTINGS) {
      const path = this.config.settingPaths[rule.key];
      if (path === undefined) continue;
      const value = isJsonObject(values) ? values[rule.key] : undefined;
      if (value === undefined || !rule.accept(value)) {
        throw new StatesTaskError(
          'States.Runtime',
          `${rule.field}Path ${path} of Distributed Map "${this.config.stateName}" resolved to ${JSON.stringify(value ?? null)}, not a valid ${rule.field}`,
        );
      }
      resolved[rule.key] = value;
    }
    return { ...this.config.settings, ...resolved };
  }
}

/**
 * One child per item without a batcher; else greedy batches of at most `maxItemsPerBatch` items whose child input
 * `{ Items, BatchInput }` stays within `maxInputBytesPerBatch` bytes of JSON.
 * @throws TerminalStatesError States.DataLimitExceeded when one item alone exceeds the byte limit.
 */
export function batchItems(
  values: readonly JsonValue[],
  batcher: { readonly batchInput: JsonValue | undefined } | undefined,
  settings: MapRunSettings,
  stateName: string,
): ChildWork[] {
  if (batcher === undefined) return values.map((value) => ({ input: value, itemCount: 1 }));
  const shared = batcher.batchInput;
  const wrap = (batch: JsonValue[]): JsonObject =>
    shared === undefined ? { Items: batch } : { Items: batch, BatchInput: shared };
  const maxItems = settings.maxItemsPerBatch ?? Number.POSITIVE_INFINITY;
  const maxBytes = settings.maxInputBytesPerBatch ?? Number.POSITIVE_INFINITY;
  const emptyBytes = jsonByteLength(wrap([]));
  const batches: ChildWork[] = [];
  let batch: JsonValue[] = [];
  let bytes = emptyBytes;
  for (const value of values) {
    const valueBytes = jsonByteLength(value);
    if (emptyBytes + valueBytes > maxBytes) {
      throw new TerminalStatesError(
        'States.DataLimitExceeded',
        `an item of Distributed Map "${stateName}" alone exceeds ItemBatcher.MaxInputBytesPerBatch (${maxBytes} bytes)`,
      );
    }
    // Each item after the first adds a comma to the batch's JSON text.
    const added = valueBytes + (batch.length > 0 ? 1 : 0);
    if (batch.length > 0 && (batch.length >= maxItems || bytes + added > maxBytes)) {
      batches.push({ input: wrap(batch), itemCount: batch.length });
      batch = [];
      bytes = emptyBytes;
    }
    bytes += valueBytes + (batch.length > 0 ? 1 : 0);
    batch.push(value);
  }
  if (batch.length > 0) batches.push({ input: wrap(batch), itemCount: batch.length });
  return batches;
}

/** True once failed items exceed ToleratedFailureCount or ToleratedFailurePercentage; with neither, any failure. */
export function exceedsTolerance(settings: MapRunSettings, failedItems: number, itemCount: number): boolean {
  const { toleratedFailureCount: count, toleratedFailurePercentage: percentage } = settings;
  if (count === undefined && percentage === undefined) return failedItems > 0;
  if (count !== undefined && failedItems > count) return true;
  return percentage !== undefined && (failedItems / itemCount) * 100 > percentage;
}

/** The tolerance in words, for the States.ExceedToleratedFailureThreshold cause. */
export function toleranceText(settings: MapRunSettings): string {
  const { toleratedFailureCount: count, toleratedFailurePercentage: percentage } = settings;
  const parts = [
    count === undefined ? undefined : `${count} items`,
    percentage === undefined ? undefined : `${percentage}%`,
  ].filter((part) => part !== undefined);
  return parts.length === 0 ? 'none' : parts.join(' or ');
}
