import { randomUUID } from 'node:crypto';
import type { Actor } from 'xstate';
import type { z } from 'zod';
import type { Logger } from '../log/logger.ts';
import { type ChannelOutput, channelStateName, type ChannelStateName } from '../machines/channel.ts';
import { channelId, type supervisorMachine } from '../machines/supervisor.ts';
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
  /** Handles one event; the payload must pass `schema` first. Returns the function that removes it. */
  on<S extends z.ZodType>(event: string, schema: S, handler: (payload: z.output<S>, meta: { offset: number }) => void): () => void;
  /** Sends now if joined, else buffers it (bounded, with a TTL). Returns the send's id, as `expired` notices name it. */
  send(event: string, payload?: Record<string, unknown>): string;
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

  constructor(actor: Actor<typeof supervisorMachine>, logger: Logger, notify: (notice: ChannelNotice) => void) {
    this.#actor = actor;
    this.#logger = logger;
    this.#notify = notify;
    actor.on('channel.deliver', (e) => this.#deliver(e));
    actor.on('channel.joined', ({ channel, recovery }) => notify({ kind: 'joined', channel, recovery }));
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

  join(name: string, options: { workspaceId?: string } = {}): ChannelHandle {
    this.#wanted.set(name, options.workspaceId === undefined ? {} : { workspaceId: options.workspaceId });
    this.#actor.send({ type: 'channel.join', channel: name, ...this.#workspaceOf(name) });
    const actor = this.#actor;
    const handlers = this.#handlers;
    const wanted = this.#wanted;
    // What this handle attached: `leave()` takes it off, so a later join starts clean.
    const removers: Array<() => void> = [];
    return {
      name,
      get state() {
        const child = actor.getSnapshot().children[channelId(name)];
        return child ? channelStateName(child.getSnapshot().value) : 'left';
      },
      on(event, schema, handler) {
        const set = getOrCreate(getOrCreate(handlers, name, () => new Map<string, Set<Handler>>()), event, () => new Set<Handler>());
        const entry: Handler = { schema, handler: handler as Handler['handler'] };
        set.add(entry);
        const remove = () => void set.delete(entry);
        removers.push(remove);
        return remove;
      },
      send(event, payload = {}) {
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
