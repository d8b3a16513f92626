import { readFileSync } from 'node:fs';
import type { SettingsValues } from '../protocol/settings-document.ts';
import { SettingsError } from './settings.ts';

/**
 * Static settings: a fixed document from the configuration, base64 JSON
 * (`CLOUDTETHER_STATIC_SETTINGS`) or a JSON file (`CLOUDTETHER_STATIC_SETTINGS_FILE`). Read once
 * at start, never synced. Returns undefined when neither is configured.
 *
 * @throws {SettingsError} `invalid_static` when the value is not base64 JSON of an object, or the
 *   file cannot be read or is not a JSON object (the message names the source, never the content).
 * @example
 * readStaticSettings({ staticSettings: Buffer.from('{"theme":"dark"}').toString('base64') }); // { theme: 'dark' }
 */
export function readStaticSettings(config: {
  staticSettings?: string | undefined;
  staticSettingsFile?: string | undefined;
}): SettingsValues | undefined {
  if (config.staticSettings !== undefined) {
    return parseObject(Buffer.from(config.staticSettings, 'base64').toString('utf8'), 'staticSettings (base64 JSON)');
  }
  if (config.staticSettingsFile === undefined) return undefined;
  let text: string;
  try {
    // Once, at start, like reading any configuration file.
    text = readFileSync(config.staticSettingsFile, 'utf8');
  } catch (error) {
    throw new SettingsError(
      'invalid_static',
      `cannot read ${config.staticSettingsFile} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  return parseObject(text, config.staticSettingsFile);
}

function parseObject(text: string, source: string): SettingsValues {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new SettingsError('invalid_static', `${source} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new SettingsError('invalid_static', `${source} is not a JSON object`);
  return value as SettingsValues;
}
