/**
 * The value under `key`, made with `make` and stored first when there is none.
 *
 * @example
 * const queue = getOrCreate(queues, key, () => new DeviceQueue(credit));
 */
export function getOrCreate<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}
