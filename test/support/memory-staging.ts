import { StagedObjectMissingError } from '../../core/errors.js';
import type { StagedObjectInfo, Staging } from '../../core/ports.js';

/** In-memory Staging for unit tests that must not touch the network. Integration tests use the local cloud's S3. */
export class MemoryStaging implements Staging {
  readonly description = 'memory://staging';
  readonly objects = new Map<string, { body: Buffer; metadata: Record<string, string> }>();

  async assertReady(): Promise<void> {}

  async put(key: string, body: Uint8Array, metadata: Record<string, string> = {}): Promise<void> {
    this.objects.set(key, { body: Buffer.from(body), metadata });
  }

  async get(key: string): Promise<Buffer> {
    const object = this.objects.get(key);
    if (!object) throw new StagedObjectMissingError(key);
    return Buffer.from(object.body);
  }

  async head(key: string): Promise<StagedObjectInfo | undefined> {
    const object = this.objects.get(key);
    return object && { key, size: object.body.length, metadata: object.metadata };
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((key) => key.startsWith(prefix)).sort();
  }

  async deletePrefix(prefix: string): Promise<number> {
    const keys = await this.list(prefix);
    for (const key of keys) this.objects.delete(key);
    return keys.length;
  }
}
