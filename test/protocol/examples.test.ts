import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { executionRequestExamples, messageExamples } from '../../src/protocol/examples.ts';
import { executorFixture, request, settle } from '../support/execution-fixture.ts';

describe('protocol examples', () => {
  it("the execution_event example is what the executor sends when the example's tool completes", async () => {
    const example = messageExamples.execution_event;
    const data = example.data ?? {};
    const { result } = data as { result: unknown };
    const f = executorFixture();
    f.handlers.register('tool', executionRequestExamples.tool.tool_name, { input: z.object({}).passthrough(), run: () => result });
    const { type: _type, seq: _seq, ...tool } = executionRequestExamples.tool;
    await f.executor.receive(request(tool));
    await settle();

    const sent = f.terminalOf(tool.request_id)!;
    expect({ event_id: sent.event_id, request_id: sent.request_id, event_type: sent.event_type }).toEqual({
      event_id: example.event_id,
      request_id: example.request_id,
      event_type: example.event_type,
    });
    expect(sent.data).toEqual({ ...data, duration_ms: expect.any(Number) });
    expect(Object.keys(sent.data ?? {}).sort()).toEqual(Object.keys(data).sort());
  });
});
