// Draws a statechart the server has laid out (src/inspector-page/layout.ts) and highlights its active
// states. Positions are final: this file only turns them into SVG.

/**
 * Draws `layout` into `container` and returns what highlighting needs: the state boxes and the
 * edges by path.
 */
function drawChart(container, layout) {
  container.replaceChildren();
  const svg = svgEl('svg', {
    viewBox: `0 0 ${layout.width} ${layout.height}`,
    width: layout.width,
    height: layout.height,
    role: 'img',
    'aria-label': `statechart of ${layout.machine}`,
  });
  svg.dataset.machine = layout.machine;
  const defs = svgEl('defs');
  const marker = svgEl('marker', {
    id: 'arrow',
    viewBox: '0 0 10 10',
    refX: 9,
    refY: 5,
    markerWidth: 7,
    markerHeight: 7,
    orient: 'auto-start-reverse',
  });
  marker.append(svgEl('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrowhead' }));
  const firedMarker = marker.cloneNode(true);
  firedMarker.setAttribute('id', 'arrow-fired');
  firedMarker.firstChild.setAttribute('class', 'arrowhead fired');
  defs.append(marker, firedMarker);
  svg.append(defs);

  // Boxes of compound states first, then edges over them, then the atomic states on top.
  const boxes = svgEl('g', { class: 'boxes' });
  const edges = svgEl('g', { class: 'edges' });
  const states = svgEl('g', { class: 'states' });
  svg.append(boxes, edges, states);

  const nodes = new Map();
  for (const node of layout.nodes) {
    if (node.kind === 'initial') {
      const dot = svgEl('circle', { cx: node.x + node.width / 2, cy: node.y + node.height / 2, r: node.width / 2, class: 'initial' });
      states.append(dot);
      continue;
    }
    const compound = node.kind === 'compound' || node.kind === 'parallel';
    const g = svgEl('g', { class: `state kind-${node.kind} depth-${node.depth % 2}` });
    g.dataset.path = node.path;
    const rect = svgEl('rect', { x: node.x, y: node.y, width: node.width, height: node.height, rx: compound ? 10 : 7 });
    const label = compound
      ? svgEl('text', { x: node.x + 10, y: node.y + 18, class: 'label compound-label' })
      : svgEl('text', { x: node.x + node.width / 2, y: node.y + node.height / 2 + 4, class: 'label', 'text-anchor': 'middle' });
    label.textContent = node.key;
    const title = svgEl('title');
    title.textContent = node.path;
    g.append(title, rect, label);
    if (node.kind === 'final')
      g.append(svgEl('rect', { x: node.x + 3, y: node.y + 3, width: node.width - 6, height: node.height - 6, rx: 5, class: 'final-ring' }));
    (compound ? boxes : states).append(g);
    nodes.set(node.path, g);
  }

  const edgeGroups = [];
  for (const edge of layout.edges) {
    const g = svgEl('g', { class: edge.events.length === 0 ? 'edge initial-edge' : 'edge' });
    g.dataset.source = edge.source;
    g.dataset.target = edge.target;
    const title = svgEl('title');
    title.textContent = edge.details.length ? `${edge.source} → ${edge.target}\n${edge.details.join('\n')}` : edge.target;
    const d = edge.points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'} ${x} ${y}`).join(' ');
    g.append(title, svgEl('path', { d, class: 'line', 'marker-end': 'url(#arrow)' }));
    if (edge.label) {
      const text = svgEl('text', { x: edge.label.x + 3, y: edge.label.y + 11, class: 'edge-label' });
      edge.events.forEach((event, i) => {
        const line = svgEl('tspan', { x: edge.label.x + 3, dy: i === 0 ? 0 : 14 });
        line.textContent = event;
        text.append(line);
      });
      g.append(
        svgEl('rect', {
          x: edge.label.x,
          y: edge.label.y - 1,
          width: edge.label.width,
          height: edge.label.height + 2,
          rx: 3,
          class: 'edge-label-bg',
        }),
        text,
      );
    }
    edges.append(g);
    edgeGroups.push(g);
  }
  container.append(svg);
  return { machine: layout.machine, nodes, edges: edgeGroups };
}

/**
 * Marks the active states (`.active`), and the edges the last transition took (`.fired`): an
 * edge from a state it left to a state it entered.
 */
function highlightChart(drawn, states, last) {
  const active = new Set(states);
  for (const [path, g] of drawn.nodes) g.classList.toggle('active', active.has(path));
  const from = new Set(last ? last.from : []);
  const to = new Set(last ? last.to : []);
  for (const g of drawn.edges) {
    const { source, target } = g.dataset;
    const fired = from.has(source) && !to.has(source) && to.has(target) && !from.has(target);
    g.classList.toggle('fired', fired);
    g.querySelector('.line').setAttribute('marker-end', fired ? 'url(#arrow-fired)' : 'url(#arrow)');
  }
}
