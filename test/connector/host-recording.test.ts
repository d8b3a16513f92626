import { describe, expect, it } from 'vitest';
import type { ApiClient } from '../../src/api/client.ts';
import { hostCallRecorder, recordedApi } from '../../src/connector/host-recording.ts';

function fakeRecording() {
  const lines: unknown[] = [];
  return {
    lines,
    host: (call: string, ...args: unknown[]) => void lines.push(['host', call, ...args]),
    answer: (call: string, outcome: unknown) => void lines.push(['answer', call, outcome]),
  };
}

describe('host calls in a session recording', () => {
  it('records a call and its answer while live (from creation to stop), and nothing once stopped', async () => {
    const recording = fakeRecording();
    let live = false;
    const recorder = hostCallRecorder(recording, () => live);
    expect(recorder.call('login', [], () => 1)).toBe(1);
    expect(recording.lines).toEqual([]);
    live = true;
    await recorder.call('api.whoami', [], async () => ({ device_id: 'd' }));
    await recorder.call('switchOrganization', ['org-b'], async () => Promise.reject(new Error('unknown organization'))).catch(() => {});
    expect(recording.lines).toEqual([
      ['host', 'api.whoami'],
      ['answer', 'api.whoami', { value: { device_id: 'd' } }],
      ['host', 'switchOrganization', 'org-b'],
      ['answer', 'switchOrganization', { error: 'unknown organization' }],
    ]);
  });

  it('answers a call that throws at once with its error, and still throws it', () => {
    const recording = fakeRecording();
    const recorder = hostCallRecorder(recording, () => true);
    expect(() =>
      recorder.call('settings.update', [{ theme: 'blue' }], () => {
        throw new Error('the edit would make the settings invalid');
      }),
    ).toThrow('the edit would make the settings invalid');
    expect(recording.lines).toEqual([
      ['host', 'settings.update', { theme: 'blue' }],
      ['answer', 'settings.update', { error: 'the edit would make the settings invalid' }],
    ]);
  });

  it('records the API client methods a host calls, and leaves the rest as they are', async () => {
    const recording = fakeRecording();
    class Client {
      readonly #secret = 'x';
      sent = 3;
      whoami() {
        return Promise.resolve({ device_id: this.#secret });
      }
      sendTelemetry() {
        return Promise.resolve({ accepted: this.#secret.length });
      }
    }
    const api = recordedApi(
      new Client() as unknown as ApiClient,
      hostCallRecorder(recording, () => true),
    );
    expect(await api.whoami()).toEqual({ device_id: 'x' });
    expect(await api.sendTelemetry([])).toEqual({ accepted: 1 });
    expect(api.sent).toBe(3);
    expect(recording.lines).toEqual([
      ['host', 'api.whoami'],
      ['answer', 'api.whoami', { value: { device_id: 'x' } }],
    ]);
  });
});
