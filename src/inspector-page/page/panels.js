// The side panels and the transitions table: each render function rebuilds its own part of the
// page from the current model (small lists; no diffing needed).

const STATUS_ACTORS = ['supervisor', 'auth', 'connection', 'heartbeat', 'settings', 'storage'];

/** The header chips: one per actor of the connector's status. */
function renderSummary(status) {
  const summary = document.getElementById('summary');
  summary.replaceChildren(
    ...STATUS_ACTORS.map((name) => {
      const part = status[name];
      if (!part) return el('span', 'chip');
      const chip = el('span', `chip ${tone(part.state)}`);
      chip.title = `${name}: ${part.state} (${part.reason})`;
      chip.append(el('span', 'chip-name', name), el('span', 'chip-state', part.state));
      return chip;
    }),
  );
}

/** The connection card: state, why, and what a person debugging a reconnect loop asks next. */
function renderConnection(status) {
  const c = status.connection;
  const badge = document.getElementById('conn-state');
  badge.textContent = c.state;
  badge.className = `badge ${tone(c.state)}`;
  const rows = [
    ['reason', c.reason],
    ['attempt', c.attempt],
    c.sessionId && ['session', c.sessionId],
    c.lastClose && ['last close', `${c.lastClose.code} ${c.lastClose.reason}`.trim()],
    c.hubError && ['hub error', c.hubError],
    c.networkError && ['network', c.networkError],
    ['heartbeat', `${status.heartbeat.state}${status.heartbeat.rttMs !== undefined ? ` · rtt ${status.heartbeat.rttMs} ms` : ''}`],
    ['auth', `${status.auth.state}${status.auth.expiresAt ? ` · token until ${clockTime(status.auth.expiresAt)}` : ''}`],
    status.storage?.state === 'failing' && [
      'storage',
      `failing · ${status.storage.code} · ${status.storage.path} · probe in ${status.storage.retryInMs} ms`,
    ],
  ].filter(Boolean);
  fillList(document.getElementById('conn-details'), rows);
}

/** Counts down to the pending retry; `now` is the server's clock as the page estimates it. */
function renderCountdown(status, now) {
  const box = document.getElementById('retry');
  const c = status && status.connection;
  if (!c || c.retryAt === undefined) {
    box.hidden = true;
    return;
  }
  const left = Math.max(0, c.retryAt - now);
  box.hidden = false;
  document.getElementById('retry-in').textContent = left === 0 ? 'now' : duration(left);
  const share = c.retryInMs > 0 ? left / c.retryInMs : 0;
  document.getElementById('retry-bar').style.width = `${Math.min(100, share * 100).toFixed(1)}%`;
}

/** Capacity, outbox and the requests in flight. */
function renderExecutions(ex) {
  fillList(document.getElementById('exec-details'), [
    ['running', `${ex.running} of ${ex.maxConcurrency}${ex.saturated ? ' · saturated' : ''}`],
    ['queued', `${ex.queued} of ${ex.maxQueue}`],
    ['outbox', `${ex.outboxDepth} unacknowledged${ex.waitingForStorage > 0 ? ` · ${ex.waitingForStorage} waiting for storage` : ''}`],
  ]);
  const list = document.getElementById('exec-active');
  list.replaceChildren(...ex.active.map((id) => el('li', '', id)));
  if (ex.activeCount > ex.active.length) list.append(el('li', 'more', `… ${ex.activeCount - ex.active.length} more`));
}

/** The supervisor tree; machine actors are clickable and select the chart shown. */
function renderTree(actors, selected, select) {
  const byParent = new Map();
  for (const actor of actors.values()) {
    const key = actor.parent !== undefined && actors.has(actor.parent) ? actor.parent : '';
    if (!byParent.has(key)) byParent.set(key, []);
    byParent.get(key).push(actor);
  }
  const build = (parent) =>
    (byParent.get(parent) || []).map((actor) => {
      const item = el('li', `actor status-${actor.status}${actor.id === selected ? ' selected' : ''}`);
      item.dataset.actor = actor.id;
      const row = el('div', 'actor-row');
      row.append(el('span', `dot ${actor.status}`), el('span', 'actor-name', actorName(actor)));
      if (actor.states.length) row.append(el('span', 'actor-state', statesLabel(actor.states)));
      else if (actor.status !== 'active') row.append(el('span', 'actor-state', actor.status));
      if (actor.machine !== undefined) {
        row.classList.add('clickable');
        row.title = `show the ${actor.machine} statechart`;
        row.addEventListener('click', () => select(actor.id));
      }
      item.append(row);
      const children = build(actor.id);
      if (children.length) {
        const list = el('ul');
        list.append(...children);
        item.append(list);
      }
      return item;
    });
  document.getElementById('tree').replaceChildren(...build(''));
}

/** One tab per machine actor: its name and where it is now. */
function renderTabs(actors, selected, select) {
  const tabs = [...actors.values()].filter((a) => a.machine !== undefined);
  document.getElementById('tabs').replaceChildren(
    ...tabs.map((actor) => {
      const tab = el('button', `tab${actor.id === selected ? ' selected' : ''}${actor.status === 'active' ? '' : ' gone'}`);
      tab.type = 'button';
      tab.dataset.actor = actor.id;
      tab.append(
        el('span', 'tab-name', actorName(actor)),
        el('span', `tab-state ${tone(leafKey(actor.states))}`, statesLabel(actor.states).split('.').pop()),
      );
      tab.addEventListener('click', () => select(actor.id));
      return tab;
    }),
  );
}

/** The last transitions, newest first. */
function renderTransitions(rows) {
  const body = document.querySelector('#transitions tbody');
  body.replaceChildren(
    ...rows
      .slice()
      .reverse()
      .map((t) => {
        const tr = el('tr', `tone-${tone(leafKey(t.to))}`);
        tr.dataset.actor = t.actor;
        tr.dataset.from = leaves(t.from).join(' ');
        tr.dataset.to = leaves(t.to).join(' ');
        tr.append(
          el('td', 'time', clockTime(t.at)),
          el('td', 'actor', shortActor(t.actor)),
          el('td', 'from', statesLabel(t.from)),
          el('td', 'arrow', '→'),
          el('td', 'to', statesLabel(t.to)),
          el('td', 'event', t.event),
          el('td', 'reason', t.reason ?? ''),
        );
        tr.title = t.actor;
        return tr;
      }),
  );
}

/** The last key of the first deepest state: `['online', 'online.connected']` → `connected`. */
function leafKey(states) {
  const leaf = leaves(states)[0];
  return leaf ? leaf.split('.').pop() : '';
}

function fillList(dl, rows) {
  dl.replaceChildren(...rows.flatMap(([term, value]) => [el('dt', '', term), el('dd', '', value)]));
}
