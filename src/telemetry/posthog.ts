import type { HttpAdapter } from '../adapters/http.ts';
import { ApiError, kindOfStatus } from '../api/api-error.ts';
import type { TelemetryEvent } from '../api/contract.ts';

/** A PostHog project to mirror telemetry to: its host (e.g. `https://eu.i.posthog.com`) and project API key. */
export interface PostHogTarget {
  url: string;
  apiKey: string;
}

/**
 * Sends a batch in PostHog's `/batch/` format: each event with the device as `distinct_id` and
 * its id as `uuid` (PostHog drops duplicates of a retried batch by it).
 *
 * @throws {ApiError} for a refusal or no answer, classified as the API client does.
 * @example
 * await sendToPostHog(fetchHttpAdapter, { url: 'https://eu.i.posthog.com', apiKey: 'phc_…' }, 'laptop-1', batch);
 */
export async function sendToPostHog(http: HttpAdapter, target: PostHogTarget, distinctId: string, batch: TelemetryEvent[]): Promise<void> {
  const path = '/batch/';
  const body = {
    api_key: target.apiKey,
    batch: batch.map((e) => ({
      event: e.event,
      uuid: e.id,
      timestamp: new Date(e.timestamp).toISOString(),
      properties: { ...e.properties, distinct_id: distinctId, $lib: 'cloudtether' },
    })),
  };
  let status: number;
  try {
    ({ status } = await http.request({ method: 'POST', url: new URL(path, target.url).toString(), json: body, timeoutMs: 10_000 }));
  } catch (error) {
    throw new ApiError('network', `POST ${path} (PostHog): ${(error as Error).message}`, { method: 'POST', path, attempts: 1 });
  }
  if (status < 200 || status >= 300)
    throw new ApiError(kindOfStatus(status), `POST ${path} (PostHog): ${status}`, { method: 'POST', path, status, attempts: 1 });
}
