import { setupHost } from '../fixtures/sessions/scenarios.ts';

/*
 * The recorded fixtures' host as a module `cloudtether replay FILE --check --setup MODULE` loads:
 * it exports `setup(connector)`.
 */
export const setup = setupHost;
