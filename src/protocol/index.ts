export * from './envelope.ts';
export * from './messages.ts';
export * from './settings-messages.ts';
export * from './codec.ts';
export * from './close-codes.ts';
export * from './examples.ts';
export * from './json-schema.ts';
