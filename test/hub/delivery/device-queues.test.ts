import { describe, expect, it } from 'vitest';
import { MemoryDeviceQueues } from '../../../src/hub/delivery/device-queues.ts';

describe('MemoryDeviceQueues', () => {
  it('hands out one queue per (tenant, device), made with the default credit', () => {
    const queues = new MemoryDeviceQueues(16);
    const queue = queues.of({ tenant_id: 'acme', device_id: 'laptop-1' });
    expect(queue.credit).toBe(16);
    expect(queues.of({ tenant_id: 'acme', device_id: 'laptop-1' })).toBe(queue);
    expect(queues.of({ tenant_id: 'globex', device_id: 'laptop-1' })).not.toBe(queue);
    expect(queues.of({ tenant_id: 'acme', device_id: 'laptop-2' })).not.toBe(queue);
  });
});

describe('MemoryDeviceQueues, as an engine hands them out', () => {
  it('numbers under an epoch of its own per hub process, and lists every queue with whose it is', () => {
    const [one, two] = [new MemoryDeviceQueues(16), new MemoryDeviceQueues(16)];
    expect(one.epoch).toMatch(/^hub_[0-9a-f-]{36}$/);
    expect(two.epoch).not.toBe(one.epoch);
    const queue = one.of({ tenant_id: 'acme', device_id: 'laptop-1' });
    expect(one.all()).toEqual([{ who: { tenant_id: 'acme', device_id: 'laptop-1' }, queue }]);
    // Nothing to wait for in memory: a send goes out at once.
    expect(queue.settled()).toBeUndefined();
  });
});
