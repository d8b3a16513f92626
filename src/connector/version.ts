// A JSON import, not a file read: it resolves the same from src/connector/ and dist/connector/
// (both two folders below the package root), and a host's bundler inlines it.
import packageJson from '../../package.json' with { type: 'json' };

/** This library's version, as package.json says: reported to the hub in `connect.runtime`. */
export const CONNECTOR_VERSION: string = packageJson.version;
