import { z } from 'zod';
import type { RuntimeClock } from '../util/clock.ts';
import type { ChannelHandle } from '../connector/channels.ts';
import type { Connector } from '../connector/connector-types.ts';

/** A task command addressed to one extension instance. */
export const ExtensionCommand = z.object({
  instance_id: z.string().min(1).max(256),
  task_id: z.string().min(1).max(256),
  /** For `start_task`: what to do. */
  prompt: z.string().max(100_000).optional(),
});
export type ExtensionCommand = z.infer<typeof ExtensionCommand>;

export interface ExtensionOptions {
  instanceId: string;
  app: { name: string; version: string };
  platform: string;
  workspaceId?: string;
  /** Read for every registration and heartbeat: the instance's current task state. */
  taskState?: () => Record<string, unknown>;
  /** How often the registration is repeated while joined. Default 20 s; the hub drops an instance after 60 s. */
  heartbeatMs?: number;
  /** Commands addressed to this instance; those for other instances never reach them. */
  onCommand: Partial<Record<'start_task' | 'stop_task' | 'resume_task', (command: ExtensionCommand) => void>>;
}

/** The registered extension: {@link ExtensionInstance.stop} unregisters it and leaves the channel. */
export interface ExtensionInstance {
  readonly channel: ChannelHandle;
  stop(): void;
}

/**
 * Joins the `extension` channel as one app instance (docs/protocol.md, channels): registers it
 * (app, platform, workspace, task state) on every join, so after every reconnect too; repeats the
 * registration as a heartbeat; takes the task commands addressed to this instance; unregisters on
 * `stop()`.
 *
 * @example
 * const extension = registerExtension(connector, clock, {
 *   instanceId: 'vscode-7f3a', app: { name: 'vscode', version: '1.96.0' }, platform: 'linux',
 *   taskState: () => ({ running: currentTask?.id ?? null }),
 *   onCommand: { start_task: ({ task_id, prompt }) => startTask(task_id, prompt) },
 * });
 * // on shutdown, before connector.stop():
 * extension.stop();
 */
export function registerExtension(connector: Connector, clock: RuntimeClock, options: ExtensionOptions): ExtensionInstance {
  const channel = connector.channel('extension', options.workspaceId === undefined ? {} : { workspaceId: options.workspaceId });
  const heartbeatMs = options.heartbeatMs ?? 20_000;
  const snapshot = () => ({
    instance_id: options.instanceId,
    app: options.app,
    platform: options.platform,
    ...(options.workspaceId !== undefined && { workspace_id: options.workspaceId }),
    task_state: options.taskState?.() ?? {},
  });
  let timer: unknown;
  let stopped = false;
  const beat = () => {
    timer = clock.setTimeout(() => {
      if (stopped) return;
      if (channel.state === 'joined') channel.send('heartbeat', snapshot());
      beat();
    }, heartbeatMs);
  };
  const offJoined = connector.on('channel', (notice) => {
    if (notice.kind === 'joined' && notice.channel === 'extension' && !stopped) channel.send('register', snapshot());
  });
  beat();
  // A host that stops the connector without `stop()` must not be kept alive by the heartbeat timer.
  const onStopped = connector.events$.subscribe({ complete: () => clock.clearTimeout(timer) });
  for (const event of ['start_task', 'stop_task', 'resume_task'] as const) {
    channel.on(event, ExtensionCommand, (command) => {
      // Every instance of the tenant hears the channel: act only on what is addressed to this one.
      if (command.instance_id !== options.instanceId) return;
      options.onCommand[event]?.(command);
    });
  }
  return {
    channel,
    stop() {
      if (stopped) return;
      stopped = true;
      clock.clearTimeout(timer);
      offJoined();
      onStopped.unsubscribe();
      channel.send('unregister', { instance_id: options.instanceId });
      channel.leave();
    },
  };
}
