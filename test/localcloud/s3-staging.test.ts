import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../core/blocks.js';
import { startTestCloud, type TestCloud } from '../support/local-cloud.js';
import { randomBlock, rejectionOf } from './helpers.js';

describe('S3Staging against the local S3', () => {
  let test: TestCloud;
  beforeAll(async () => {
    test = await startTestCloud();
  });
  afterAll(() => test.stop());

  it('signs a put with the SHA-256 the caller knows, and S3 refuses a body that does not match it', async () => {
    const body = randomBlock();
    const other = randomBlock();

    await test.staging.put('known/ok', body, {}, { sha256: sha256Hex(body) });
    const refused = await rejectionOf(test.staging.put('known/bad', body, {}, { sha256: sha256Hex(other) }));

    expect(sha256Hex(await test.staging.get('known/ok'))).toBe(sha256Hex(body));
    expect(refused.name).toBe('XAmzContentSHA256Mismatch');
    expect(await test.staging.head('known/bad')).toBeUndefined();
  });

  it('reads back bodies of every size whole, the empty one included', async () => {
    const bodies = [
      Buffer.alloc(0),
      Buffer.from('{"a":1}'),
      randomBlock(),
      Buffer.concat(Array(17).fill(randomBlock())),
    ];

    for (const [i, body] of bodies.entries()) await test.staging.put(`sizes/${i}`, body);
    const read = await Promise.all(bodies.map((_, i) => test.staging.get(`sizes/${i}`)));

    expect(read.map((r) => r.length)).toEqual(bodies.map((b) => b.length));
    expect(read.map(sha256Hex)).toEqual(bodies.map(sha256Hex));
  });
});
