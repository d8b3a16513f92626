import { z } from 'zod';
import type { ChannelHandle } from '../connector/channels.ts';
import type { Connector } from '../connector/connector-types.ts';

/** Task commands relayed from the cloud side, validated before a handler sees them. */
export const TaskCommands = {
  message: z.object({ text: z.string().min(1).max(100_000), user_id: z.string().max(256).optional() }),
  approve: z.object({
    step_id: z.string().max(256).optional(),
    approved_by: z.string().max(256).optional(),
    comment: z.string().max(10_000).optional(),
  }),
  deny: z.object({
    step_id: z.string().max(256).optional(),
    denied_by: z.string().max(256).optional(),
    reason: z.string().max(10_000).optional(),
  }),
};

export interface TaskHandlers {
  onMessage?: (command: z.infer<typeof TaskCommands.message>) => void;
  onApprove?: (command: z.infer<typeof TaskCommands.approve>) => void;
  onDeny?: (command: z.infer<typeof TaskCommands.deny>) => void;
}

/** A joined task channel. */
export interface TaskChannel {
  readonly channel: ChannelHandle;
  /** Sends a task event to the cloud side (buffered while not joined). Returns its id. */
  emit(event: string, payload?: Record<string, unknown>): string;
  leave(): void;
}

/**
 * Joins `task:<taskId>`: the cloud side's task commands (message, approve, deny) reach the
 * handlers with validated payloads, and task events go out on it.
 *
 * @example
 * const task = joinTask(connector, 'tsk_42', { workspaceId: 'ws-1', onApprove: ({ step_id }) => resume(step_id) });
 * task.emit('step_completed', { step_id: 'stp_7' });
 */
export function joinTask(connector: Connector, taskId: string, handlers: TaskHandlers & { workspaceId?: string }): TaskChannel {
  const channel = connector.channel(`task:${taskId}`, handlers.workspaceId === undefined ? {} : { workspaceId: handlers.workspaceId });
  if (handlers.onMessage) channel.on('message', TaskCommands.message, handlers.onMessage);
  if (handlers.onApprove) channel.on('approve', TaskCommands.approve, handlers.onApprove);
  if (handlers.onDeny) channel.on('deny', TaskCommands.deny, handlers.onDeny);
  return {
    channel,
    emit: (event, payload) => channel.send(event, payload),
    leave: () => channel.leave(),
  };
}
