import { randomUUID } from 'node:crypto';
import type { Actor } from 'xstate';
import type { z } from 'zod';
import { type ChannelSendEntry, ChannelSends, type ChannelSendsOptions, type ReliableSend } from '../delivery/channel-sends.ts';
import type { Logger } from '../log/logger.ts';
import { type ChannelOutput, channelStateName, type ChannelStateName } from '../machines/channel.ts';
import { channelId, type supervisorMachine } from '../machines/supervisor.ts';
import { CHANNEL_ACK } from '../protocol/capabilities.ts';
import { createMemoryRecordLog } from '../storage/record-log.ts';
import type { RuntimeClock } from '../util/clock.ts';
import { getOrCreate } from '../util/get-or-create.ts';
import type { ChannelNotice } from '../status/connector-event.ts';

export type { ChannelNotice } from '../status/connector-event.ts';

/**
 * A channel the host joined. Handlers are attached once and survive every reconnect and rejoin;
 * each inbound message reaches them once, validated against their schema first.
 *
 * @example
 * const task = connector.channel('task:tsk_42');
 * task.on('approve', z.object({ step_id: z.string() }), ({ step_id }) => approve(step_id));
 * task.send('progress', { done: 3, of: 7 });
 */
export interface ChannelHandle {
  readonly name: string;
  /** `waiting`, `joining`, `joined`, `leaving`, `left` or `errored`. */
  readonly state: ChannelStateName;
  /** Reliable messages sent on this channel that the hub has not acknowledged yet. */
  readonly unacked: number;
  /** Handles one event; the payload must pass `schema` first. Returns the function that removes it. */
  on<S extends z.ZodType>(event: string, schema: S, handler: (payload: z.output<S>, meta: { offset: number }) => void): () => void;
  /**
   * Sends now if joined, else buffers it (bounded, with a TTL): at most once. Returns the send's
   * id, as `expired` notices name it.
   *
   * With `{ reliable: true }` (or through a handle joined with it) the message is stored first
   * (durably with a connector store) and sent, with its sequence number, whenever the channel is
   * joined, until the hub acknowledges it: it arrives once, across dead sockets, reconnects and
   * (with a store) restarts. Bounded: past 1 000 unacknowledged messages a send is refused at
   * once, and one unacknowledged for an hour is dropped, each reported as an `expired` notice
   * with its `reason` (`unacked_full`, `ttl`). A hub without the `channel_ack` capability gets
   * them at most once. docs/embedding.md "Channels".
   */
  send(event: string, payload?: Record<string, unknown>, options?: { reliable?: boolean }): string;
  /** Leaves the channel (it is not rejoined) and removes the handlers attached through this handle. */
  leave(): void;
}

type Handler = { schema: z.ZodType; handler: (payload: unknown, meta: { offset: number }) => void };

/** The connector's channels: the handles, their handlers, and the routing of what the actors report. */
export class DeviceChannels {
  readonly #actor: Actor<typeof supervisorMachine>;
  readonly #logger: Logger;
  readonly #notify: (notice: ChannelNotice) => void;
  /** Handlers by channel, then event; kept across leave and rejoin, never attached twice. */
  readonly #handlers = new Map<string, Map<string, Set<Handler>>>();
  /** Channels the host wants joined, with the workspace each was joined in. */
  readonly #wanted = new Map<string, { workspaceId?: string }>();
  /** Reliable messages not acknowledged yet. */
  readonly #sends: ChannelSends;
  /** Whether the host asked for reliable messages: from then on every `connect` announces `channel_ack`. */
  #wantsAcks = false;
  /** Whether the last `connect` announced `channel_ack`. */
  #announced = false;
  /**
   * Whether the hub of the session up now acknowledges reliable messages: `true` when its
   * `connect_ack` said so, `false` when it was asked and did not, undefined when it was not asked
   * (the messages go out with their `seq` all the same: a hub that speaks it acknowledges them).
   */
  #hubAcks: boolean | undefined;

  /**
   * `sends` says where reliable messages are kept, their bounds (`policy`) and the clock whose
   * timer expires them when their TTL passes; without it, in memory on the wall clock, expired
   * only when their channel is joined again.
   */
  constructor(
    actor: Actor<typeof supervisorMachine>,
    logger: Logger,
    notify: (notice: ChannelNotice) => void,
    sends: Omit<ChannelSendsOptions, 'logger' | 'expiry'> & { clock?: Pick<RuntimeClock, 'setTimeout' | 'clearTimeout'> } = {
      log: createMemoryRecordLog(),
      now: Date.now,
    },
  ) {
    this.#actor = actor;
    this.#logger = logger;
    this.#notify = notify;
    const { clock, ...kept } = sends;
    this.#sends = new ChannelSends({
      ...kept,
      logger,
      ...(clock && { expiry: { clock, onExpired: (expired: ChannelSendEntry[]) => this.#reportExpired(expired) } }),
    });
    actor.on('channel.deliver', (e) => this.#deliver(e));
    actor.on('channel.joined', ({ channel, recovery }) => {
      notify({ kind: 'joined', channel, recovery });
      this.#resend(channel);
    });
    actor.on('session.up', ({ session }) => {
      this.#hubAcks = session.capabilities?.includes(CHANNEL_ACK) ?? (this.#announced ? false : undefined);
      if (this.#hubAcks === false) this.#logger.warn('the hub does not acknowledge channel messages: reliable ones go out at most once');
    });
    actor.on('message', ({ message }) => {
      if (message.type === 'channel_ack') this.#sends.ack(message.channel, message.seq);
    });
    actor.on('channel.expired', ({ channel, sends }) => notify({ kind: 'expired', channel, sends }));
    actor.on('channel.refused', ({ channel, reason, message }) => notify({ kind: 'refused', channel, reason, message }));
    actor.on('channel.left', ({ channel }) => {
      notify({ kind: 'left', channel });
      // Joined again while it was leaving: the old actor is gone now, so a new one joins.
      if (this.#wanted.has(channel)) this.#actor.send({ type: 'channel.join', channel, ...this.#workspaceOf(channel) });
    });
    actor.on('channel.failed', ({ channel, error }) => {
      this.#wanted.delete(channel);
      notify({ kind: 'failed', channel, error });
    });
  }

  /** Channels the host wants joined (for `connect.runtime`). */
  wanted(): string[] {
    return [...this.#wanted.keys()].sort();
  }

  /** What each `connect` carries from the channels: `channel_ack` once reliable messages are wanted or wait. */
  handshake(): { capabilities?: string[] } {
    this.#announced = this.#wantsAcks || this.#sends.depth > 0;
    return this.#announced ? { capabilities: [CHANNEL_ACK] } : {};
  }

  /** Reliable messages stored and not acknowledged. */
  get unacked(): number {
    return this.#sends.depth;
  }

  /** Stops the expiry timer of reliable messages (the connector stops). */
  stop(): void {
    this.#sends.close();
  }

  /** `reliable`: every send through this handle is reliable (see {@link ChannelHandle.send}). */
  join(name: string, options: { workspaceId?: string; reliable?: boolean } = {}): ChannelHandle {
    this.#wanted.set(name, options.workspaceId === undefined ? {} : { workspaceId: options.workspaceId });
    const reliable = options.reliable === true;
    if (reliable) this.#wantsAcks = true;
    this.#actor.send({ type: 'channel.join', channel: name, ...this.#workspaceOf(name) });
    const actor = this.#actor;
    const handlers = this.#handlers;
    const wanted = this.#wanted;
    // What this handle attached: `leave()` takes it off, so a later join starts clean.
    const removers: Array<() => void> = [];
    const sends = this.#sends;
    return {
      name,
      get unacked() {
        return sends.pending(name).length;
      },
      get state() {
        const child = actor.getSnapshot().children[channelId(name)];
        return child ? channelStateName(child.getSnapshot().value) : 'left';
      },
      on(event, schema, handler) {
        const set = getOrCreate(
          getOrCreate(handlers, name, () => new Map<string, Set<Handler>>()),
          event,
          () => new Set<Handler>(),
        );
        const entry: Handler = { schema, handler: handler as Handler['handler'] };
        set.add(entry);
        const remove = () => void set.delete(entry);
        removers.push(remove);
        return remove;
      },
      send: (event, payload = {}, sendOptions = {}) => {
        if (sendOptions.reliable ?? reliable) return this.#sendReliably(name, event, payload);
        const id = randomUUID();
        actor.send({ type: 'channel.send', channel: name, id, event, payload });
        return id;
      },
      leave() {
        for (const remove of removers.splice(0)) remove();
        wanted.delete(name);
        actor.send({ type: 'channel.leave', channel: name });
      },
    };
  }

  /** Stores the message, then sends it if the channel is joined; else its join sends it. */
  #sendReliably(channel: string, event: string, payload: Record<string, unknown>): string {
    this.#wantsAcks = true;
    const added = this.#sends.add(channel, event, payload);
    if (!added) {
      const id = randomUUID();
      this.#logger.warn({ channel, event, unacked: this.#sends.depth }, 'reliable channel message refused: too many unacknowledged');
      this.#notify({ kind: 'expired', channel, sends: [{ id, event }], reason: 'unacked_full' });
      return id;
    }
    added.stored.then(
      (send) => {
        if (this.#isJoined(channel)) this.#transmit(send);
      },
      (error: unknown) => {
        this.#logger.error({ err: error, channel, event }, 'cannot store a reliable channel message');
        this.#notify({ kind: 'expired', channel, sends: [{ id: added.id, event }], reason: 'storage_failed' });
      },
    );
    return added.id;
  }

  /** Joined (again): what the hub has not acknowledged goes out, in order, minus what expired. */
  #resend(channel: string): void {
    this.#reportExpired(this.#sends.expire());
    for (const send of this.#sends.pending(channel)) this.#transmit(send);
  }

  /** One `expired` notice (`ttl`) per channel for the messages dropped past their TTL. */
  #reportExpired(expired: ChannelSendEntry[]): void {
    const byChannel = new Map<string, Array<{ id: string; event: string }>>();
    for (const { channel: name, id, event } of expired) getOrCreate(byChannel, name, () => []).push({ id, event });
    for (const [name, sends] of byChannel) this.#notify({ kind: 'expired', channel: name, sends, reason: 'ttl' });
  }

  #transmit(send: ReliableSend): void {
    if (this.#hubAcks === false) {
      // A hub that never acknowledges: once, as at most once, then forgotten.
      this.#actor.send({ type: 'channel.send', channel: send.channel, id: send.id, event: send.event, payload: send.payload });
      this.#sends.forget(send.seq);
      return;
    }
    this.#actor.send({ type: 'channel.send', channel: send.channel, id: send.id, event: send.event, payload: send.payload, seq: send.seq });
  }

  #isJoined(channel: string): boolean {
    const child = this.#actor.getSnapshot().children[channelId(channel)];
    return child !== undefined && channelStateName(child.getSnapshot().value) === 'joined';
  }

  #workspaceOf(channel: string): { workspaceId?: string } {
    return this.#wanted.get(channel) ?? {};
  }

  #deliver({ channel, event, payload, offset }: Extract<ChannelOutput, { type: 'channel.deliver' }>): void {
    const handlers = this.#handlers.get(channel)?.get(event);
    if (!handlers || handlers.size === 0) {
      this.#logger.debug({ channel, event, offset }, 'channel message without a handler');
      return;
    }
    for (const { schema, handler } of handlers) {
      const parsed = schema.safeParse(payload);
      if (!parsed.success) {
        // Never cast: a payload that fails the schema reaches no handler.
        const issues = parsed.error.issues.map((i) => ({ path: i.path.map(String), message: i.message }));
        this.#logger.warn({ channel, event, offset, issues }, 'invalid channel message');
        this.#notify({ kind: 'invalid', channel, event, offset, issues });
        continue;
      }
      try {
        handler(parsed.data, { offset });
      } catch (error) {
        this.#logger.error({ err: error, channel, event }, 'channel handler threw');
      }
    }
  }
}
