import { z } from 'zod';
import type { Connector } from '../../connector/connector.ts';

/** The demo host's settings: typed, with defaults; the organization's document is on top. */
export const demoSettingsSchema = z.object({
  theme: z.enum(['light', 'dark']).default('light'),
  max_concurrent_tasks: z.number().int().min(1).max(16).default(4),
  features: z.record(z.string(), z.boolean()).default({}),
});

/**
 * The demo's tools and playbooks: small, deterministic stand-ins for what a host would run (a
 * search, a report), with progress and token usage so every part of an execution shows. They
 * wait with `ctx.sleep`, on the connector's clock, so a recording of the demo replays to its end.
 */
export function registerDemoHandlers(connector: Connector): void {
  connector.handle('tool', 'web_search', {
    input: z.object({ query: z.string(), max_results: z.number().int().positive().default(3) }),
    async run({ query, max_results }, ctx) {
      ctx.progress({ stage: 'searching', query });
      await ctx.sleep(50);
      ctx.reportUsage({ inputTokens: 120, outputTokens: 40 * max_results, costEstimate: 0.0004 * max_results });
      return { results: Array.from({ length: max_results }, (_, i) => ({ title: `${query} #${i + 1}` })) };
    },
  });
  connector.handle('playbook', 'summarize_findings', {
    input: z.object({ style: z.enum(['bullet_points', 'prose']).default('bullet_points') }),
    async run({ style }, ctx) {
      const found = (ctx.chain?.previous as { results?: Array<{ title: string }> } | undefined)?.results ?? [];
      ctx.progress({ stage: 'summarizing', items: found.length });
      await ctx.sleep(50);
      ctx.reportUsage({ inputTokens: 300, outputTokens: 90, costEstimate: 0.0012 });
      return { summary: found.map((r) => (style === 'bullet_points' ? `- ${r.title}` : r.title)).join('\n') };
    },
  });
  // A chat agent stand-in: answers LINE / WhatsApp messages routed from the cloud.
  connector.onMessaging('*', async (event, ctx) => {
    await ctx.sleep(30);
    return { text: `You asked: "${event.message.text}". Tomorrow: 10:00 campaign review, 14:30 call with the LINE partner team.` };
  });
  // Long enough for the demo to drop the connection under it.
  connector.handle('playbook', 'weekly_campaign_report', {
    input: z.object({ weeks: z.number().int().positive().max(10).default(4) }),
    async run({ weeks }, ctx) {
      for (let week = 1; week <= weeks; week++) {
        await ctx.sleep(250);
        ctx.progress({ week, of: weeks });
      }
      ctx.reportUsage({ inputTokens: 800 * weeks, outputTokens: 200 * weeks, costEstimate: 0.003 * weeks });
      return { weeks, sent: true };
    },
  });
}
