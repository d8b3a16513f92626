import { SimulatedClock } from 'xstate';
import { createSocketActor } from '../../src/actors/socket.ts';
import { createMemoryNetwork, type MemoryPeer } from '../../src/adapters/memory-socket.ts';
import { BackoffPolicy, type BackoffPolicyInput } from '../../src/machines/backoff.ts';
import { type ConnectionInput, connectionMachine, connectionStateName } from '../../src/machines/connection.ts';
import { createCodec } from '../../src/protocol/codec.ts';
import { flush, underParent } from './harness.ts';

export const HUB_URL = 'ws://hub.test/v1/connect';

/** A connection machine on a memory network and a SimulatedClock, under a recording parent. */
export function connectionFixture(options: { url?: string | null; seed?: number; policy?: BackoffPolicyInput } = {}) {
  const clock = new SimulatedClock();
  const net = createMemoryNetwork();
  const codec = createCodec({ now: () => clock.now() });
  const input: ConnectionInput = {
    url: options.url === null ? undefined : (options.url ?? HUB_URL),
    deviceId: 'dev-1',
    tenantId: 'local',
    policy: BackoffPolicy.parse(options.policy ?? {}),
    connectTimeoutMs: 10_000,
    closeTimeoutMs: 2_000,
    seed: options.seed ?? 42,
    now: () => clock.now(),
  };
  const logic = connectionMachine.provide({ actors: { socket: createSocketActor({ adapter: net.adapter, codec }) } });
  // The parent plays the auth machine: every attempt gets the token at once.
  const h = underParent(logic, input, clock, (event) =>
    event.type === 'connection.token_needed' ? { type: 'token.granted', token: 'secret-token' } : undefined,
  );

  const frame = (message: Parameters<typeof codec.encode>[0]): string => {
    const encoded = codec.encode(message);
    if (!encoded.ok) throw encoded.error;
    return encoded.value.frame;
  };
  const ack = (peer: MemoryPeer | undefined = net.latest(), sessionId = 's-1') =>
    peer!.send(
      frame({
        type: 'connect_ack',
        session_id: sessionId,
        heartbeat_interval_ms: 25_000,
        heartbeat_timeout_ms: 10_000,
        server_time: clock.now(),
        max_frame_bytes: 1 << 20,
      }),
    );

  return {
    ...h,
    net,
    codec,
    input,
    frame,
    ack,
    name: () => connectionStateName(h.state()),
    ctx: () => h.child.getSnapshot().context as ReturnType<typeof connectionMachine.getInitialSnapshot>['context'],
    /** Host asks to connect, the hub accepts and acknowledges. */
    async connectFully() {
      h.child.send({ type: 'connect' });
      await flush();
      net.latest()!.accept();
      ack();
    },
    advance: async (ms: number) => {
      clock.increment(ms);
      await flush();
    },
  };
}
