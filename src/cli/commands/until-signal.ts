/**
 * Resolves on the first SIGINT or SIGTERM. Holds the event loop open meanwhile: a standalone or
 * failed connector has no socket or timer that would, and Node would exit (code 13) mid-await.
 * Call it before starting anything, so that an early Ctrl-C is handled too; `cancel()` removes
 * the handlers when the command ends another way.
 */
export function untilSignal(): Promise<NodeJS.Signals> & { cancel(): void } {
  const keepAlive = setInterval(() => {}, 1 << 30);
  let on: (signal: NodeJS.Signals) => void = () => {};
  const cancel = () => {
    process.off('SIGINT', on);
    process.off('SIGTERM', on);
    clearInterval(keepAlive);
  };
  const promise = new Promise<NodeJS.Signals>((resolve) => {
    on = (signal) => {
      cancel();
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
  return Object.assign(promise, { cancel });
}
