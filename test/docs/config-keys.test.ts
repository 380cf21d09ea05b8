import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/app-function.js';
import { CONFIG_KEYS } from '../../lib/config.js';

describe('docs/operations.md', () => {
  it('lists every CDK context key lib/config.ts reads in its table of keys', () => {
    const docs = readFileSync(`${PROJECT_ROOT}docs/operations.md`, 'utf8');
    const tableRows = docs.split('\n').filter((line) => line.startsWith('| `'));
    const documented = new Set(
      tableRows.flatMap((row) => [...(row.split('|')[1] ?? '').matchAll(/`(\w+)`/g)].map((m) => m[1])),
    );
    expect(CONFIG_KEYS.filter((key) => !documented.has(key))).toEqual([]);
  });
});
