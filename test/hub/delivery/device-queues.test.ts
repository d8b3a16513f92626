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
