/** An operator's JSON call to a hub's admin routes (loopback, no admin token), and its answer. */
export async function operatorCall<T = Record<string, unknown>>(
  base: string,
  method: 'GET' | 'POST' | 'PATCH',
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${base}${path}`, {
    method,
    ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** `GET /v1/executions/{id}`'s answer: the status and events a test reads. */
export interface ExecutionAnswer {
  request_id: string;
  status: string;
  events: Array<{ event_type: string }>;
}
