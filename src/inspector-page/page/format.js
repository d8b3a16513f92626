// Small helpers shared by the other page scripts (all four run in one scope; see src/inspector-page/page.ts).

/** Creates an element with a class and text; data never goes through innerHTML. */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Creates an SVG element with attributes. */
function svgEl(tag, attributes = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

/** `14:03:07.412` in local time. */
function clockTime(at) {
  const d = new Date(at);
  const pad = (n, width = 2) => String(n).padStart(width, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** `1.2 s`, `350 ms`, `2 min 5 s`. */
function duration(ms) {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** The deepest active states: `['online', 'online.connected']` → `['online.connected']`. */
function leaves(states) {
  return states.filter((s) => !states.some((other) => other !== s && other.startsWith(`${s}.`)));
}

/** The states as one short label. */
function statesLabel(states) {
  const shown = leaves(states);
  return shown.length === 0 ? '–' : shown.join(', ');
}

/** A class that colours a state name by what it means for a person watching a reconnect. */
function tone(state) {
  if (/^(connected|running|valid|static|synced|joined|waiting|awaiting|active|acknowledged|ok)$/.test(state)) return 'ok';
  if (/^(failed|dead|degraded|unauthorized|error|errored|stopped)$/.test(state)) return 'bad';
  if (/^(disconnected|suspended|retrying|inactive|refreshing|connecting|authorizing|closing|failing)$/.test(state)) return 'warn';
  return 'neutral';
}

/** Name of an actor path for people: `supervisor/connection` → `connection`. */
function shortActor(path) {
  return path.split('/').pop();
}

/** An actor's name; the root's own id is a session id (`x:0`), its path reads better. */
function actorName(actor) {
  return actor.parent === undefined ? actor.id : actor.name;
}
