import type { RecentIds } from './recent-ids.ts';

/**
 * What the hub keeps per device, across its sessions, to take its numbered messages in: the ids
 * seen (dedupe) and the message being applied, which what comes next waits for.
 */
export class DeviceIntake {
  /**
   * The last message of the device still being applied (settles once it is, and acknowledged);
   * undefined once idle, so an idle device holds no promise.
   */
  applying: Promise<void> | undefined = undefined;

  constructor(readonly recent: RecentIds) {}
}

/**
 * What the hub keeps per session to take its device's numbered messages in, found with one
 * look-up per frame: its device's {@link DeviceIntake} and the coalesced ack of the session
 * (the highest `seq` applied, sent once per turn).
 */
export class SessionIntake {
  /** The highest `seq` applied, to acknowledge. */
  ackSeq = 0;
  /** Whether the ack is queued for the end of this turn. */
  ackScheduled = false;
  /** A message could not be stored: nothing more is acknowledged on this session. */
  failed = false;

  /**
   * @param device - the device's intake, shared by its sessions
   * @param flushAck - sends the ack; made once per session so a turn's ack needs no closure
   */
  constructor(
    readonly device: DeviceIntake,
    readonly flushAck: () => void,
  ) {}
}
