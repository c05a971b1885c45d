/**
 * For building a script call's KEYS: `indexOf(key)` appends `key` to `keys` the first time
 * and returns its 1-based position (Lua's `KEYS[i]`), the same position every later time.
 */
export function keyIndexer(keys: string[]): (key: string) => number {
  const positions = new Map<string, number>();
  for (const [i, key] of keys.entries()) positions.set(key, i + 1);
  return (key) => {
    let i = positions.get(key);
    if (i === undefined) {
      keys.push(key);
      i = keys.length;
      positions.set(key, i);
    }
    return i;
  };
}
