import type { EntryDefinition } from '../entry.js';

/**
 * Entry definitions parsed once per text: a beat reads the same due entries at every tick,
 * and their stored JSON rarely changes. Shared by the stores that keep definitions as text.
 */
export class DefinitionCache {
  readonly #byName = new Map<string, { raw: string; definition: EntryDefinition }>();

  /** The definition stored as `raw` for `name`, parsed only when the text changed. */
  definition(name: string, raw: string): EntryDefinition {
    let cached = this.#byName.get(name);
    if (!cached || cached.raw !== raw) {
      cached = { raw, definition: JSON.parse(raw) as EntryDefinition };
      this.#byName.set(name, cached);
    }
    return cached.definition;
  }

  /** Drops the parsed definition of a removed entry. */
  forget(name: string): void {
    this.#byName.delete(name);
  }
}
