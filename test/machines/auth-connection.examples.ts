/**
 * Directed walks of the auth + connection model test into windows random runs seldom reach. With
 * them every auth transition is reached by examples alone, whatever the seed; counterexamples
 * found by `npm run explore` are kept here too. `sequence` turns command names into commands.
 */
export type Mode = 'device' | 'user' | 'static' | 'none';

export function directedExamples<C>(sequence: (...names: string[]) => C[]): Array<[Mode, number | null, boolean, Iterable<C>]> {
  return [
    // A transient refresh failure while the token is still good (active.waiting), then a
    // reconnect, a refusal, and a second refusal inside that window.
    [
      'device',
      null,
      false,
      sequence(
        'token ok (120000 ms)',
        'advance to the refresh point',
        'token 429 retry-after 20',
        'network drops the socket',
        'advance to the connection retry',
        'token ok (120000 ms)',
        'hub: token expired (4002)',
        'token 429 retry-after 20',
        'hub: token expired (4002)',
      ),
    ],
    // Waiting past expiry (Retry-After longer than the token lasts), and a wake-up inside it.
    [
      'device',
      null,
      false,
      sequence('token ok (120000 ms)', 'advance to the refresh point', 'token 429 retry-after 120', 'advance to 0 ms before expiry'),
    ],
    [
      'device',
      null,
      false,
      sequence(
        'token ok (120000 ms)',
        'advance to the refresh point',
        'token 429 retry-after 120',
        'sleep 60000',
        'network drops the socket',
        'advance to the connection retry',
      ),
    ],
    // The hub refuses the old token while a first token is being fetched again (attempting).
    [
      'device',
      null,
      false,
      sequence(
        'token ok (20000 ms)',
        'advance to the refresh point',
        'token 500',
        'advance to 0 ms before expiry',
        'advance to the auth retry',
        'hub: token expired (4002)',
      ),
    ],
    // User login: code, pending, slow_down, then approval; requests while logging in.
    [
      'user',
      null,
      false,
      sequence(
        'host: login',
        'token ok (120000 ms)',
        'advance 5000',
        'login poll: authorization_pending',
        'advance 5000',
        'login poll: slow_down',
        'advance 30000',
        'token ok (120000 ms)',
      ),
    ],
    ['user', null, false, sequence('host: login', 'token ok (120000 ms)', 'advance 5000', 'login poll: access_denied')],
    ['user', null, false, sequence('host: login', 'token ok (120000 ms)', 'advance 5000', 'login poll: expired_token')],
    // A stored session the hub no longer honours.
    ['user', null, true, sequence('token: invalid_grant')],
    // Switching: ok, not a member, a request and a refusal during the switch, a switch queued behind a refresh.
    [
      'user',
      null,
      true,
      sequence(
        'token ok (120000 ms)',
        'host: switch to org-b',
        'network drops the socket',
        'advance to the connection retry',
        'hub: token expired (4002)',
        'host: switch to org-a',
        'hub scopes tokens to org-b',
        'token ok (120000 ms)',
      ),
    ],
    [
      'user',
      null,
      true,
      sequence('token ok (120000 ms)', 'host: switch to org-zzz', 'token: invalid_scope', 'host: switch to org-b', 'token 500'),
    ],
    [
      'user',
      null,
      true,
      sequence(
        'token ok (120000 ms)',
        'advance to the refresh point',
        'host: switch to org-b',
        'token ok (120000 ms)',
        'token ok (120000 ms)',
      ),
    ],
    // Logout from a session, from a retry, and one whose revocation fails; a request meanwhile.
    [
      'user',
      null,
      true,
      sequence(
        'token ok (120000 ms)',
        'host: logout',
        'network drops the socket',
        'advance to the connection retry',
        'token ok (120000 ms)',
      ),
    ],
    ['user', null, true, sequence('token 500', 'host: logout', 'token network')],
    // The session ends at a refresh; the hub refuses a token while a switch is in flight.
    ['user', null, true, sequence('token ok (120000 ms)', 'advance to the refresh point', 'token: invalid_grant')],
    ['user', null, true, sequence('token ok (120000 ms)', 'host: switch to org-b', 'hub: token expired (4002)')],
    // A connection retry that comes due while the user is logging in (after a logout).
    [
      'user',
      null,
      true,
      sequence(
        'token ok (120000 ms)',
        'hub: token expired (4002)',
        'host: logout',
        'token ok (120000 ms)',
        'host: login',
        'advance to the connection retry',
      ),
    ],
    // A live session logs out: the connection asks again and waits while logged out.
    ['user', null, true, sequence('token ok (120000 ms)', 'host: logout', 'token ok (120000 ms)')],
    // A dropped connection waits for its retry while the lid closes past a static token's
    // expiry; the retry on waking asks for the token, which has run out.
    // The retry after a drop is spread (dropSpreadMs): it may come due only after the wake check.
    ['static', 30_000, false, sequence('network drops the socket', 'sleep 60000')],
    ['static', 30_000, false, sequence('network drops the socket', 'sleep 60000', 'advance to the connection retry')],
    // Found by `npm run explore` (seed -1345240032), shrunk: a switch that failed at the moment the
    // token expired left the live session on it until the next check.
    ['user', null, true, sequence('token ok (3000 ms)', 'host: switch to org-a', 'advance to 0 ms before expiry', 'token 429')],
    // With these, every auth transition is reached by examples alone, whatever the seed.
    ['none', null, false, sequence('advance 100')],
    ['static', -60_000, false, sequence('host connects')],
    ['static', 30 * 86_400_000, false, sequence('advance 25 days', 'advance 25 days')],
    ['static', 30_000, false, sequence('advance 30000', 'advance 1000')],
    [
      'static',
      null,
      false,
      sequence(
        'hub refuses the next token (4001)',
        'network drops the socket',
        'advance to the connection retry',
        'hub refuses the next token (4001)',
        'advance to the connection retry',
      ),
    ],
    ['device', null, false, sequence('token revoked', 'host connects')],
    ['device', null, false, sequence('token 401')],
    ['device', null, false, sequence('token 500', 'advance to the auth retry')],
    ['device', null, false, sequence('token ok (120000 ms)', 'network drops the socket', 'sleep 3600000')],
    [
      'device',
      null,
      false,
      sequence(
        'token ok (120000 ms)',
        'hub refuses the next token (4001)',
        'network drops the socket',
        'advance to the connection retry',
        'hub refuses the next token (4001)',
        'token ok (120000 ms)',
        'advance to the connection retry',
      ),
    ],
    ['device', null, false, sequence('token ok (120000 ms)', 'advance to the refresh point', 'token revoked')],
    ['device', null, false, sequence('token ok (120000 ms)', 'advance to the refresh point', 'token 401')],
    ['user', null, true, sequence('host: logout')],
    ['user', null, true, sequence('token ok (120000 ms)', 'host: switch to org-b', 'token: invalid_grant')],
    ['user', null, false, sequence('host: login', 'host: cancel login')],
    ['user', null, false, sequence('host: login', 'host: logout')],
    ['user', null, false, sequence('host: login', 'token 500')],
    ['user', null, false, sequence('host: login', 'token ok (120000 ms)', 'advance 5000', 'token 500')],
    [
      'user',
      null,
      false,
      sequence('host: login', 'token ok (120000 ms)', 'advance 5000', 'sleep 3600000', 'login poll: authorization_pending', 'advance 100'),
    ],
  ];
}
