import { randomUUID } from 'node:crypto';
import { createCodec, type Outbound } from '../../src/protocol/index.ts';

/**
 * The frames of one small tool execution as the runtime exchanges them: the hub's
 * `execution_request`, then the device's `accepted`, `started` and `completed` events and its
 * `usage_report`. The baselines send these very strings, so every contender moves the same
 * bytes; the codec encodes them, so their sizes are the runtime's own.
 */
export interface ExchangeFrames {
  request: string;
  /** In the order the device sends them; `completed` (index {@link COMPLETED_INDEX}) ends the exchange. */
  replies: string[];
}

/** Which reply ends an execution at the hub: its terminal event. The usage report follows it. */
export const COMPLETED_INDEX = 2;

/** The tool every contender runs: it returns its input at once. */
export const TOOL = { name: 'echo', inputs: { text: 'hi' } } as const;

export function exchangeFrames(): ExchangeFrames {
  const codec = createCodec();
  const requestId = `req_${randomUUID()}`;
  const encode = (message: Outbound) => {
    const encoded = codec.encode(message);
    if (!encoded.ok) throw encoded.error;
    return encoded.value.frame;
  };
  const event = (suffix: string, eventType: 'accepted' | 'started' | 'completed', data: Record<string, unknown>, seq: number) =>
    encode({ type: 'execution_event', event_id: `${requestId}:${suffix}`, request_id: requestId, event_type: eventType, data, seq });
  return {
    request: encode({
      type: 'execution_request',
      request_id: requestId,
      job_type: 'tool',
      tool_name: TOOL.name,
      inputs: { ...TOOL.inputs },
      execution_context: {},
      seq: 1,
    }),
    replies: [
      event('accepted', 'accepted', { queue_position: 1 }, 1),
      event('started', 'started', {}, 2),
      event('end', 'completed', { result: { ...TOOL.inputs }, duration_ms: 0 }, 3),
      encode({
        type: 'usage_report',
        report_id: `usage:${requestId}`,
        seq: 4,
        request_id: requestId,
        executor_device_id: 'bench-device',
        metrics: { duration_ms: 0 },
      }),
    ],
  };
}
