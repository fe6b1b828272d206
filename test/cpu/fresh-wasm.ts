/** Shared by the WebAssembly tests: a module's committed `<name>-wasm.ts` is what `npm run build:wasm` writes now. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

/** Compile engine/cpu/wasm/<name>.wat again and compare with the committed bytes and file. */
export async function assertFreshCompile(name: string, committedBytes: () => Uint8Array): Promise<void> {
  // A computed specifier: scripts/ is plain JS without type declarations.
  const script = new URL('../../scripts/build-wasm.mjs', import.meta.url).href;
  const { compileWat, renderTs } = (await import(script)) as { compileWat: (name: string) => Promise<Uint8Array>; renderTs: (b: Uint8Array, name: string) => string };
  const fresh = await compileWat(name);
  const file = `engine/cpu/wasm/${name}-wasm.ts`;
  assert.deepEqual(committedBytes(), fresh, `${file} is stale: run npm run build:wasm`);
  const committed = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
  assert.equal(committed, renderTs(fresh, name), `${file} differs from what npm run build:wasm writes`);
}
