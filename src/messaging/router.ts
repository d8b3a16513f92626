import { type RuntimeClock, sleepOn } from '../util/clock.ts';
import type { Outbox } from '../delivery/outbox.ts';
import type { JournalEntry } from '../execution/executor.ts';
import type { Logger } from '../log/logger.ts';
import type { MessageOf, Outbound } from '../protocol/messages.ts';
import { StorageError } from '../adapters/storage.ts';
import type { RecordLog } from '../storage/record-log.ts';
import { type StorageHealth, untilStored } from '../storage/storage-health.ts';

type MessagingEvent = MessageOf<'messaging_event'>;
type ReplyResult = MessageOf<'messaging_reply'>['result'];

/** What a messaging handler answers: the reply text, and a status when not `completed`. */
export interface MessagingAnswer {
  status?: Exclude<ReplyResult['status'], 'duplicate'>;
  text?: string;
}

/**
 * Answers chat messages from a cloud-connected channel (LINE, WhatsApp, …) for one workspace.
 * What it returns becomes the `messaging_reply`; what it throws becomes status `error`.
 *
 * @example
 * connector.onMessaging('ws_marketing_ops', async (event, { logger }) => {
 *   logger.info({ channel: event.channel }, 'chat message');
 *   return { text: await agent.answer(event.message.text) };
 * });
 */
export type MessagingHandler = (event: MessagingEvent, ctx: MessagingContext) => MessagingAnswer | Promise<MessagingAnswer>;

/** What a messaging handler gets besides the event. */
export interface MessagingContext {
  /** A child of the connector's logger bound to the request id and channel. */
  logger: Logger;
  /** Waits `ms` on the connector's clock: a wait a session recording keeps and a replay reproduces (docs/recording.md). */
  sleep(ms: number): Promise<void>;
  /** The connector's clock time, epoch ms. */
  now(): number;
}

export interface MessagingRouterOptions {
  outbox: Outbox;
  journal: RecordLog<JournalEntry>;
  clock: RuntimeClock;
  logger: Logger;
  /** A request id seen again within this window is answered `duplicate`. Default 120 000. */
  dedupeWindowMs?: number;
  /** While the store fails, new messages are refused (a {@link StorageError}) and settles wait for it. */
  health?: StorageHealth;
}

/**
 * Routes `messaging_event`s to the host's handler for their workspace (or the `*` handler) and
 * sends each reply through the outbox. A message is journaled before its handler runs and settled
 * once the reply is stored, so a crash in between is answered `error` (`interrupted`) on the next
 * start instead of never.
 */
export class MessagingRouter {
  readonly #o: MessagingRouterOptions;
  readonly #handlers = new Map<string, MessagingHandler>();
  /** Request ids seen, with when: duplicates within the window are not handled again. */
  readonly #seen = new Map<string, number>();
  readonly #windowMs: number;

  constructor(options: MessagingRouterOptions) {
    this.#o = options;
    this.#windowMs = options.dedupeWindowMs ?? 120_000;
  }

  /** Registers the handler of a workspace; `*` answers workspaces without their own. */
  handle(workspaceId: string, handler: MessagingHandler): void {
    this.#handlers.set(workspaceId, handler);
  }

  /** Answers what a crash left without a reply. */
  async recover(): Promise<void> {
    for (const record of [...this.#o.journal.pending()]) {
      if (!('messaging' in record.value)) continue;
      const event = record.value.messaging;
      this.#seen.set(event.request_id, this.#o.clock.now());
      await this.#reply(event, { status: 'error', error: 'interrupted: the device restarted before answering' });
      await this.#o.journal.settle(record.seq);
    }
  }

  /**
   * Takes a messaging event. Resolves once it is durable (journaled, or its immediate reply
   * stored); the handler runs after that, so a slow agent never holds up other deliveries.
   */
  async receive(event: MessagingEvent): Promise<void> {
    const health = this.#o.health;
    if (health?.failing) throw health.refusal('messaging event');
    const now = this.#o.clock.now();
    this.#forgetBefore(now - this.#windowMs);
    // Immediate answers never wait for a failing store: refused instead, sent again later.
    if (this.#seen.has(event.request_id)) {
      return this.#reply(
        event,
        { status: 'duplicate', reason: `request ${event.request_id} was received within the last ${this.#windowMs / 1000} s` },
        { wait: false },
      );
    }
    this.#seen.set(event.request_id, now);
    const handler = this.#handlers.get(event.workspace_id ?? '') ?? this.#handlers.get('*');
    if (!handler) {
      try {
        await this.#reply(
          event,
          { status: 'ignored', reason: `no messaging handler for workspace '${event.workspace_id ?? '(none)'}'` },
          { wait: false },
        );
      } catch (error) {
        this.#seen.delete(event.request_id); // refused: its redelivery is no duplicate
        throw error;
      }
      return;
    }
    let seq: number;
    try {
      ({ seq } = await this.#o.journal.append({ messaging: event }));
    } catch (error) {
      this.#seen.delete(event.request_id);
      if (error instanceof StorageError) health?.failed(error);
      throw error;
    }
    void this.#run(event, handler, seq);
  }

  async #run(event: MessagingEvent, handler: MessagingHandler, seq: number): Promise<void> {
    const logger = this.#o.logger.child({ request_id: event.request_id, channel: event.channel });
    let result: ReplyResult;
    try {
      const { clock } = this.#o;
      const answer = await handler(event, { logger, sleep: (ms) => sleepOn(clock, ms), now: () => clock.now() });
      result = { status: answer.status ?? 'completed', ...(answer.text !== undefined && { text: answer.text }) };
    } catch (error) {
      // A throwing handler is answered, and the runtime goes on.
      logger.warn({ err: error }, 'messaging handler threw');
      result = { status: 'error', error: error instanceof Error ? error.message : String(error) };
    }
    try {
      await this.#reply(event, result);
      await untilStored(this.#o.health, () => this.#o.journal.settle(seq));
    } catch (error) {
      logger.error({ err: error }, 'cannot store a messaging reply; it is answered on the next start');
    }
  }

  #reply(event: MessagingEvent, result: ReplyResult, options: { wait?: boolean } = {}): Promise<void> {
    const reply: Outbound<'messaging_reply'> = {
      type: 'messaging_reply',
      request_id: event.request_id,
      channel: event.channel,
      ...(event.reply_token !== undefined && { reply_token: event.reply_token }),
      ...(event.channel_config_id !== undefined && { channel_config_id: event.channel_config_id }),
      result,
    };
    return this.#o.outbox.append(reply, options).then(() => undefined);
  }

  #forgetBefore(cutoff: number): void {
    // Insertion order is time order: stop at the first one still inside the window.
    for (const [id, at] of this.#seen) {
      if (at > cutoff) break;
      this.#seen.delete(id);
    }
  }
}
