export * from './envelope.ts';
export * from './messages.ts';
export * from './codec.ts';
export * from './close-codes.ts';
