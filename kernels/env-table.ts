/**
 * Kernel settings handed over in environment variables: a choice among a few words (envChoice),
 * or tables of measured kernel configurations, e.g.
 * AVDIT_ATTENTION_TILES='{"dq:72x72:256x256": "32x32:2x16"}': a JSON object from a shape key to a
 * config string, written by a benchmark's sweep and read back by the kernel launchers. Parsed once
 * per value of the variable; a bad entry is a clear error naming the variable, the key and the
 * form expected.
 */

const cache = new Map<string, { src: string; table: Record<string, unknown> }>();

/** The table in environment variable `name` (empty when unset), each value parsed by `parse` (null: malformed, described by `form`). */
export function envTable<T>(name: string, parse: (s: string) => T | null, form: string): Record<string, T> {
  const src = typeof process !== 'undefined' ? (process.env[name] ?? '') : '';
  const hit = cache.get(name);
  if (hit?.src === src) return hit.table as Record<string, T>;
  const table: Record<string, T> = {};
  if (src) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(src);
    } catch {
      throw new Error(`${name} is not JSON: ${src.slice(0, 80)}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${name} must be a JSON object of shape → config`);
    for (const [key, v] of Object.entries(parsed as Record<string, unknown>)) {
      const t = parse(String(v));
      if (t === null) throw new Error(`${name}: ${key} → '${String(v)}' is not ${form}`);
      table[key] = t;
    }
  }
  cache.set(name, { src, table });
  return table;
}

/** The value of environment variable `name` if it is one of `choices` (undefined when unset or empty); anything else is an error naming them. */
export function envChoice<C extends string>(name: string, choices: readonly C[]): C | undefined {
  const v = typeof process !== 'undefined' ? process.env[name] : undefined;
  if (v === undefined || v === '') return undefined;
  if (!(choices as readonly string[]).includes(v)) throw new Error(`${name}=${v}: expected ${choices.join(' or ')}`);
  return v as C;
}
