/**
 * What the docs generate from the code: JSON Schema files, and sections of hand-written
 * Markdown between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->` markers.
 * `npm run docs` writes them; test/docs/generated.test.ts fails when any is stale.
 */
import type { AnyStateMachine } from 'xstate';
import { rootTransitionsTable, toMermaid } from '../src/graph/mermaid.ts';
import { readStatechart } from '../src/graph/statechart.ts';
import { authMachine } from '../src/machines/auth.ts';
import { channelMachine } from '../src/machines/channel.ts';
import { connectionMachine } from '../src/machines/connection.ts';
import { heartbeatMachine } from '../src/machines/heartbeat.ts';
import { settingsSyncMachine } from '../src/machines/settings-sync.ts';
import { supervisorMachine } from '../src/machines/supervisor.ts';
import { closeCodeTable } from '../src/protocol/close-codes.ts';
import { createCodec } from '../src/protocol/codec.ts';
import { executionRequestExamples, messageExamples } from '../src/protocol/examples.ts';
import { protocolJsonSchemas } from '../src/protocol/json-schema.ts';
import { direction, type Outbound } from '../src/protocol/messages.ts';

/** Whole files: path relative to the repository → content. */
export function generatedFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [name, schema] of Object.entries(protocolJsonSchemas())) {
    files[`docs/protocol/${name}`] = `${JSON.stringify(schema, null, 2)}\n`;
  }
  return files;
}

/** Sections inside Markdown files: path → section name → content. */
export function generatedSections(): Record<string, Record<string, string>> {
  return {
    'docs/protocol.md': { 'close-codes': closeCodesTable(), messages: messagesSection() },
    'docs/machines.md': {
      auth: machineSection(authMachine),
      connection: machineSection(connectionMachine),
      heartbeat: machineSection(heartbeatMachine),
      channel: machineSection(channelMachine),
      'settings-sync': machineSection(settingsSyncMachine),
      supervisor: machineSection(supervisorMachine),
    },
  };
}

/** Replaces each generated section of `markdown`; throws if a marker is missing. */
export function fillSections(markdown: string, sections: Record<string, string>, file: string): string {
  let out = markdown;
  for (const [name, content] of Object.entries(sections)) {
    const open = `<!-- generated:${name} -->`;
    const close = `<!-- /generated:${name} -->`;
    const start = out.indexOf(open);
    const end = out.indexOf(close);
    if (start < 0 || end < start) throw new Error(`${file}: missing markers for generated section '${name}'`);
    out = `${out.slice(0, start + open.length)}\n${content.trim()}\n${out.slice(end)}`;
  }
  return out;
}

function closeCodesTable(): string {
  return [
    '| code | name | sent by | connector does | meaning |',
    '|---|---|---|---|---|',
    ...closeCodeTable.map((r) => `| ${r.code} | \`${r.name}\` | ${r.sentBy} | ${r.disposition} | ${r.meaning} |`),
  ].join('\n');
}

function messagesSection(): string {
  // A fixed id and clock: the docs must not change on every run.
  let n = 0;
  const codec = createCodec({ newId: () => `msg_${String(++n).padStart(4, '0')}`, now: () => 1_767_225_600_000 });
  const example = (message: Outbound) => {
    const encoded = codec.encode(message);
    if (!encoded.ok) throw encoded.error;
    return `\`\`\`json\n${JSON.stringify(encoded.value.message, null, 2)}\n\`\`\``;
  };
  const arrow = { to_hub: 'connector → hub', to_device: 'hub → connector', both: 'either direction' } as const;
  const parts: string[] = [];
  for (const [type, message] of Object.entries(messageExamples)) {
    parts.push(
      `### \`${type}\`\n\n${arrow[direction[type as keyof typeof direction]]} · schema: [\`${type}.schema.json\`](protocol/${type}.schema.json)\n`,
    );
    if (type === 'execution_request') {
      for (const [jobType, request] of Object.entries(executionRequestExamples)) {
        parts.push(`\`job_type: ${jobType}\`\n\n${example(request)}\n`);
      }
    } else {
      parts.push(`${example(message as Outbound)}\n`);
    }
  }
  return parts.join('\n');
}

function machineSection(machine: AnyStateMachine): string {
  const chart = readStatechart(machine);
  const table = rootTransitionsTable(chart);
  return [
    `\`\`\`mermaid\n${toMermaid(chart)}\n\`\`\``,
    `${chart.states.length} states, ${chart.transitions.length} transitions.`,
    table && `Handled in every state:\n\n${table}`,
  ]
    .filter(Boolean)
    .join('\n\n');
}
