import type { TelemetryEvent } from '../../../api/contract.ts';
import type { StoredTelemetryEvent, TelemetryBounds, TelemetryLog, TenantTelemetry } from '../../api/telemetry-store.ts';
import type { RedisConnection } from './redis-connection.ts';

/** A tenant's telemetry is forgotten this long after its last event was stored. */
export const TELEMETRY_TTL_MS = 7 * 86_400_000;

/**
 * A batch into a tenant's log: an id among the last `ARGV[3]` stored (in this batch too) is a
 * copy, counted and not stored; then the oldest events go, counted, until the log holds at most
 * `ARGV[1]` events and `ARGV[2]` bytes. KEYS: the events (a list of JSON), the recent ids (by
 * arrival), the meta hash (`bytes`, `seq`, `dropped`); ARGV: the bounds, the TTL in ms, then each
 * event's id and JSON. Returns how many were stored.
 */
const INGEST_LUA = `
local maxEvents, maxBytes, window, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local bytes = tonumber(redis.call('HGET', KEYS[3], 'bytes') or '0')
local seq = tonumber(redis.call('HGET', KEYS[3], 'seq') or '0')
local accepted = 0
for i = 5, #ARGV, 2 do
  if not redis.call('ZSCORE', KEYS[2], ARGV[i]) then
    seq = seq + 1
    redis.call('ZADD', KEYS[2], seq, ARGV[i])
    redis.call('RPUSH', KEYS[1], ARGV[i + 1])
    bytes = bytes + #ARGV[i + 1]
    accepted = accepted + 1
  end
end
local length = redis.call('LLEN', KEYS[1])
local dropped = 0
while length > 0 and (length > maxEvents or bytes > maxBytes) do
  bytes = bytes - #redis.call('LPOP', KEYS[1])
  length = length - 1
  dropped = dropped + 1
end
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(window + 1))
redis.call('HSET', KEYS[3], 'bytes', bytes, 'seq', seq)
if dropped > 0 then redis.call('HINCRBY', KEYS[3], 'dropped', dropped) end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ttl) end
return accepted
`;

/** A tenant's telemetry keys. */
export type TelemetryKeys = (tenantId: string) => { events: string; ids: string; meta: string };

/**
 * Telemetry in Redis, shared by every hub node on it: what devices report through one node is
 * read through any. Per tenant, within the same bounds as in memory (the newest `maxEvents`
 * events, at most `maxBytes` of JSON, the last `dedupeWindow` ids to drop copies), each batch one
 * script; a tenant's keys expire {@link TELEMETRY_TTL_MS} after its last event.
 *
 * @example
 * const telemetry = new RedisTelemetry(connection, keys.telemetry, DEFAULT_TELEMETRY_BOUNDS);
 * await telemetry.ingest('acme', batch, { received_at: now, device_id: 'laptop-1' }); // { accepted, duplicates }
 */
export class RedisTelemetry implements TelemetryLog {
  readonly #connection: RedisConnection;
  readonly #keys: TelemetryKeys;
  readonly #bounds: TelemetryBounds;
  readonly #ingest;

  constructor(connection: RedisConnection, keys: TelemetryKeys, bounds: TelemetryBounds) {
    this.#connection = connection;
    this.#keys = keys;
    this.#bounds = bounds;
    this.#ingest = connection.script('ctTelemetryIngest', INGEST_LUA);
  }

  async ingest(
    tenantId: string,
    batch: TelemetryEvent[],
    from: Omit<StoredTelemetryEvent, keyof TelemetryEvent>,
  ): Promise<{ accepted: number; duplicates: number }> {
    const { events, ids, meta } = this.#keys(tenantId);
    const { maxEvents, maxBytes, dedupeWindow } = this.#bounds;
    const args: Array<string | number> = [maxEvents, maxBytes, dedupeWindow, TELEMETRY_TTL_MS];
    for (const event of batch) args.push(event.id, JSON.stringify({ ...event, ...from } satisfies StoredTelemetryEvent));
    const accepted = Number(await this.#ingest([events, ids, meta], args));
    return { accepted, duplicates: batch.length - accepted };
  }

  async of(tenantId: string): Promise<TenantTelemetry> {
    const { events, meta } = this.#keys(tenantId);
    const client = await this.#connection.ready();
    const [texts, dropped] = await Promise.all([client.lrange(events, 0, -1), client.hget(meta, 'dropped')]);
    return { events: texts.map((text) => JSON.parse(text) as StoredTelemetryEvent), dropped: Number(dropped ?? 0) };
  }
}
