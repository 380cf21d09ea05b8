import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { LocalStateMachine } from '../../core/orchestration/local-runner.js';

const files = ['automated-failback.asl.json', 'conditional-automated-failback.asl.json'];

describe('the deployed ASL files on the local runner', () => {
  it.each(files)('statemachines/%s loads, every Task bound, nothing refused', (file) => {
    const path = fileURLToPath(new URL(`../../statemachines/${file}`, import.meta.url));
    // Every ${Name} in the file: a handler where it binds a Task, a substitution anywhere else.
    const names = [...new Set([...readFileSync(path, 'utf8').matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]))];
    const handlers = Object.fromEntries(names.map((name) => [name, async () => ({})]));
    const substitutions = Object.fromEntries(names.map((name) => [name, 'placeholder-value']));
    // Loading never calls S3; a Distributed Map reading or writing S3 only needs the client to be given.
    const s3 = new S3Client({ region: 'us-east-1' });

    const machine = LocalStateMachine.load({ definition: path, handlers, substitutions, s3 });

    expect(machine.taskStates.length).toBeGreaterThan(10);
    expect(machine.warnings).toEqual([]);
  });
});
