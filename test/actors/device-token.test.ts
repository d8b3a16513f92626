import { describe, expect, it } from 'vitest';
import { fetchFailure } from '../../src/actors/device-token.ts';
import { HttpError } from '../../src/adapters/http.ts';
import { AuthFetchError } from '../../src/machines/auth.ts';
import { NETWORK_FAILURE_REASONS } from '../../src/util/network-failure-reason.ts';

describe('fetchFailure: a token request that got no answer, as the auth machine reads it', () => {
  it.each(NETWORK_FAILURE_REASONS)('keeps %s, which the network named, so the auth status says it (fetch_<reason>)', (reason) => {
    const failure = fetchFailure(new HttpError(reason, `POST https://127.0.0.1:1/v1/device-token: ${reason}`));
    expect(failure).toBeInstanceOf(AuthFetchError);
    expect(failure).toMatchObject({ kind: reason, message: `POST https://127.0.0.1:1/v1/device-token: ${reason}` });
  });

  it('reads timeouts and invalid answers as themselves, and any other failure as network', () => {
    expect(fetchFailure(new HttpError('timeout', 't')).kind).toBe('timeout');
    expect(fetchFailure(new HttpError('invalid_response', 'i')).kind).toBe('invalid_response');
    expect(fetchFailure(new HttpError('network', 'ECONNREFUSED')).kind).toBe('network');
    expect(fetchFailure(new Error('socket hang up')).kind).toBe('network');
  });
});
