import WebSocket from 'ws';
import { type Closed, connectFrame, type Frame } from '../helpers.ts';

/**
 * Tests reach the hub over loopback only; a test names the address a request stands for in
 * this header, and a `vi.mock` of src/http/client-address.ts in the test file makes the hub see
 * it (`clientAddress` gives the header when present). A request without it is the loopback
 * client it is.
 */
export const CLIENT_ADDRESS_HEADER = 'x-test-client-address';

/** Headers of a request from `address`, with `more`. */
export const fromAddress = (address: string, more: Record<string, string> = {}): Record<string, string> => ({
  [CLIENT_ADDRESS_HEADER]: address,
  ...more,
});

/** Opens a device socket as from `address`, sends `connect` with `token`; resolves with the hub's answer and the close (if it closes). */
export function connectFrom(
  url: string,
  address: string,
  token: string,
  who: { device_id?: string; tenant_id?: string } = {},
): Promise<{ reply: Frame; closed: Promise<Closed>; close(): void }> {
  const ws = new WebSocket(url, { perMessageDeflate: false, headers: fromAddress(address) });
  ws.on('error', () => {});
  const closed = new Promise<Closed>((resolve) =>
    ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString('utf8') })),
  );
  return new Promise((resolve, reject) => {
    ws.once('open', () => ws.send(JSON.stringify(connectFrame({ ...who, token }))));
    ws.once('message', (data: Buffer) => resolve({ reply: JSON.parse(data.toString('utf8')) as Frame, closed, close: () => ws.close() }));
    void closed.then(({ code }) => reject(new Error(`closed (${code}) before any frame`)));
  });
}
