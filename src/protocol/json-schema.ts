import { z } from 'zod';
import { Envelope, PROTOCOL_VERSION } from './envelope.ts';
import { messageSchemas } from './messages.ts';

/**
 * JSON Schema (draft 2020-12) of every v1 message, from the zod schemas, as a hub written in
 * another language reads it: in `input` form, so fields with defaults are optional on the wire.
 * Keyed by file name under docs/protocol/.
 *
 * @example
 * const schemas = protocolJsonSchemas();
 * schemas['connect.schema.json'].required; // ['v', 'id', 'type', 'ts', 'device_id', …]
 */
export function protocolJsonSchemas(): Record<string, Record<string, unknown>> {
  const files: Record<string, Record<string, unknown>> = {};
  const render = (name: string, schema: z.ZodType, title: string) => ({
    $id: `urn:cloudtether:protocol:v${PROTOCOL_VERSION}:${name}`,
    title,
    ...z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' }),
  });
  files['envelope.schema.json'] = render('envelope', Envelope, 'Envelope: fields every frame carries');
  for (const [type, schema] of Object.entries(messageSchemas)) {
    files[`${type}.schema.json`] = render(type, schema, `${type} message`);
  }
  return files;
}
