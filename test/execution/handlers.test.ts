import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { HandlerRegistry, type JobHandler } from '../../src/execution/handlers.ts';

describe('HandlerRegistry', () => {
  it('keeps a handler by job type and name, and lists the names', () => {
    const registry = new HandlerRegistry();
    const echo: JobHandler = { input: z.object({}), run: () => 'ok' };
    registry.register('tool', 'b', echo);
    registry.register('tool', 'a', echo);
    registry.register('playbook', 'p', echo);
    expect(registry.get('tool', 'a')).toBe(echo);
    expect(registry.get('playbook', 'a')).toBeUndefined();
    expect(registry.names('tool')).toEqual(['a', 'b']);
  });

  it('refuses at registration what could never answer a request: no input schema, no run function, another job type', () => {
    const registry = new HandlerRegistry();
    // As plain JavaScript (or a cast) can pass them.
    const register =
      (handler: unknown, jobType = 'tool') =>
      () =>
        registry.register(jobType as 'tool', 'x', handler as JobHandler);
    expect(register({ run: () => 1 })).toThrow(
      new TypeError("the handler of tool 'x' needs an input schema (a zod schema: z.object({ … }), or z.object({}) for none)"),
    );
    expect(register({ input: { text: 'string' }, run: () => 1 })).toThrow(/needs an input schema/);
    expect(register({ input: z.object({}) })).toThrow(new TypeError("the handler of tool 'x' needs a run function"));
    expect(register(undefined)).toThrow(TypeError);
    expect(register({ input: z.object({}), run: () => 1 }, 'chain')).toThrow(/'tool' or 'playbook'/);
    expect(registry.names('tool')).toEqual([]);
  });
});
