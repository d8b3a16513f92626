// The page's model and its WebSocket to the inspector server (src/inspector-page/server.ts): one
// snapshot when it connects, then batches of records. It redraws at most once per frame.

const KEEP_TRANSITIONS = 50;
const model = {
  actors: new Map(),
  charts: new Map(),
  /** Why a machine has no chart (the server could not lay it out), by machine. */
  chartErrors: new Map(),
  transitions: [],
  status: undefined,
  executions: undefined,
  /** The last record applied: a batch may repeat what the snapshot already had. */
  seq: 0,
  /** Server clock minus page clock, for the retry countdown. */
  offset: 0,
  selected: undefined,
};
let drawn;
let drawnChart;
/** The actor and states the chart was last scrolled to. */
let shownAt;
let frame = 0;

function apply(message) {
  if (typeof message.now === 'number') model.offset = message.now - Date.now();
  if (message.type === 'snapshot') {
    model.actors = new Map(message.actors.map((a) => [a.id, a]));
    model.charts = new Map(message.charts.map((c) => [c.machine, c]));
    model.chartErrors = new Map(message.chartErrors.map((e) => [e.machine, e.error]));
    model.transitions = message.transitions;
    model.seq = message.seq;
    model.status = message.status;
    model.executions = message.executions;
    document.body.dataset.live = 'true';
  } else if (message.type === 'chart') {
    model.charts.set(message.chart.machine, message.chart);
  } else if (message.type === 'chart.error') {
    model.chartErrors.set(message.machine, message.error);
  } else if (message.type === 'batch') {
    for (const record of message.records) {
      if (record.seq <= model.seq) continue;
      model.seq = record.seq;
      applyRecord(record);
    }
    if (message.status) model.status = message.status;
    if (message.executions) model.executions = message.executions;
  }
  schedule();
}

function applyRecord(record) {
  if (record.kind === 'actor') {
    model.actors.set(record.actor.id, record.actor);
  } else if (record.kind === 'actor.stopped') {
    const actor = model.actors.get(record.actor);
    if (actor) model.actors.set(record.actor, { ...actor, status: record.status });
  } else {
    const actor = model.actors.get(record.actor);
    if (actor) model.actors.set(record.actor, { ...actor, states: record.to });
    model.transitions.push(record);
    if (model.transitions.length > KEEP_TRANSITIONS) model.transitions.shift();
  }
}

function select(id) {
  model.selected = id;
  schedule();
}

function schedule() {
  if (!frame) frame = requestAnimationFrame(render);
}

function render() {
  frame = 0;
  if (!model.selected || !model.actors.has(model.selected)) {
    const machines = [...model.actors.values()].filter((a) => a.machine !== undefined);
    model.selected = (machines.find((a) => a.machine === 'connection') || machines[0] || {}).id;
  }
  if (model.status) {
    renderSummary(model.status);
    renderConnection(model.status);
  }
  if (model.executions) renderExecutions(model.executions);
  renderTree(model.actors, model.selected, select);
  renderTabs(model.actors, model.selected, select);
  renderTransitions(model.transitions);
  renderChart();
}

function renderChart() {
  const container = document.getElementById('chart');
  const actor = model.actors.get(model.selected);
  const chart = actor && model.charts.get(actor.machine);
  if (!chart) {
    drawn = drawnChart = undefined;
    const error = actor && model.chartErrors.get(actor.machine);
    if (error) container.replaceChildren(el('p', 'empty chart-error', `cannot draw the ${actor.machine} statechart: ${error}`));
    else container.replaceChildren(el('p', 'empty', actor ? `laying out ${actor.machine}…` : 'no state machine yet'));
    return;
  }
  if (chart !== drawnChart) {
    drawn = drawChart(container, chart);
    drawnChart = chart;
  }
  container.dataset.actor = actor.id;
  const last = [...model.transitions].reverse().find((t) => t.actor === actor.id);
  highlightChart(drawn, actor.states, last);
  const where = `${actor.id}|${actor.states.join(' ')}`;
  if (where !== shownAt) {
    shownAt = where;
    revealActive(container, drawn, actor.states);
  }
}

/**
 * Scrolls the chart to the deepest active state a third of the way in from the left, unless it
 * is already in the left part of the view: charts flow left to right, and what comes next (to
 * the right) is what a person watching a reconnect looks for.
 */
function revealActive(container, drawn, states) {
  const leaf = drawn.nodes.get(leaves(states)[0]);
  if (!leaf || container.classList.contains('fit')) return;
  const box = leaf.getBoundingClientRect();
  const view = container.getBoundingClientRect();
  const inView = box.left >= view.left && box.right <= view.left + view.width * 0.6 && box.top >= view.top && box.bottom <= view.bottom;
  if (inView) return;
  container.scrollTo({
    left: container.scrollLeft + box.left - view.left - view.width / 3,
    top: container.scrollTop + box.top - view.top - (view.height - box.height) / 2,
  });
}

function setLink(state, text) {
  const link = document.getElementById('link');
  link.dataset.state = state;
  link.textContent = text;
}

/** Connects, and reconnects (1 s, then up to 5 s apart) when the server goes away. */
function connect(attempt = 0) {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws${location.search}`;
  const socket = new WebSocket(url);
  socket.addEventListener('open', () => {
    attempt = 0;
    setLink('live', 'live');
  });
  socket.addEventListener('message', (event) => {
    try {
      apply(JSON.parse(event.data));
    } catch (error) {
      console.error('inspector: bad message', error);
    }
  });
  socket.addEventListener('close', (event) => {
    document.body.dataset.live = 'false';
    const why = event.reason || (event.code === 1006 ? 'unreachable or refused' : `code ${event.code}`);
    const delay = Math.min(5000, 1000 * 2 ** attempt);
    setLink('closed', `offline: ${why}; retrying in ${delay / 1000} s`);
    setTimeout(() => connect(attempt + 1), delay);
  });
}

document.getElementById('fit').addEventListener('click', (event) => {
  const fit = document.getElementById('chart').classList.toggle('fit');
  event.currentTarget.textContent = fit ? '1:1' : 'fit';
  event.currentTarget.setAttribute('aria-pressed', String(fit));
});
setInterval(() => renderCountdown(model.status, Date.now() + model.offset), 100);
connect();
