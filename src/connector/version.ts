import { createRequire } from 'node:module';

/*
 * This file sits two folders below the package root both as source (src/connector/) and as
 * built code (dist/connector/), so one relative path finds package.json in both layouts.
 */
const packageJson = createRequire(import.meta.url)('../../package.json') as { version: string };

/** This library's version, as package.json says: reported to the hub in `connect.runtime`. */
export const CONNECTOR_VERSION: string = packageJson.version;
