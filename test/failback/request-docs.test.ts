import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FAILBACK_REQUESTED_EVENT } from '../../core/failback/deployment-names.js';
import { FailbackRequest, parseFailbackRequest } from '../../core/failback/request.js';

const DOC = readFileSync(new URL('../../docs/failback-request.md', import.meta.url), 'utf8');
const examples = [...DOC.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => JSON.parse(match[1] ?? '') as unknown);

describe('docs/failback-request.md', () => {
  it('holds the console StartExecution input, the conditional-automated example, the put-events entry and the event, in that order', () => {
    expect(examples).toHaveLength(4);
  });

  it('shows a conditional-automated request the schema accepts as that variant, with the defaults it leaves out', () => {
    const parsed = parseFailbackRequest(examples[1]);
    expect(parsed.method).toBe('conditional-automated');
    expect(parsed).toMatchObject({ agent: { operationTimeoutSeconds: 900 }, target: { platform: 'vsphere' } });
  });

  it('shows a console StartExecution input that the request schema accepts', () => {
    expect(parseFailbackRequest(examples[0])).toEqual(FailbackRequest.parse(examples[0]));
  });

  it('shows a put-events entry with the source and detail-type the rule matches and a valid request as detail', () => {
    const [entry] = examples[2] as { Source: string; DetailType: string; Detail: string; EventBusName: string }[];
    expect(entry?.Source).toBe(FAILBACK_REQUESTED_EVENT.source);
    expect(entry?.DetailType).toBe(FAILBACK_REQUESTED_EVENT.detailType);
    expect(entry?.EventBusName).toBe('Homebound-failback-requests');
    expect(() => parseFailbackRequest(JSON.parse(entry?.Detail ?? ''))).not.toThrow();
  });

  it('shows the event as the rule sees it, its detail a valid request', () => {
    const event = examples[3] as { source: string; 'detail-type': string; detail: unknown };
    expect(event.source).toBe(FAILBACK_REQUESTED_EVENT.source);
    expect(event['detail-type']).toBe(FAILBACK_REQUESTED_EVENT.detailType);
    expect(() => parseFailbackRequest(event.detail)).not.toThrow();
  });
});
