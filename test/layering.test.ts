// The import arrows of ../shared/DESIGN.md "Layout": each top-level folder imports only the folders
// its row allows (arrows point down), so a kernel never knows about autograd and the engine never
// knows about models. A new upward arrow fails here, naming the file and the import.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

/** Folder → the folders its files may import (besides itself), as DESIGN.md's table has them. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  kernels: [],
  engine: ['kernels'],
  autograd: ['engine'],
  model: ['autograd', 'engine'],
  diffusion: ['engine', 'autograd'],
  data: ['engine'],
  train: ['engine', 'kernels', 'autograd', 'model', 'diffusion', 'data'],
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : /\.(ts|mjs)$/.test(n) ? [p] : [];
  });
}

test('every import follows the layout of DESIGN.md (arrows point down only)', () => {
  const bad: string[] = [];
  let checked = 0;
  for (const [folder, allowed] of Object.entries(MAY_IMPORT)) {
    for (const file of sources(join(ROOT, folder))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.[^'"]+)['"]/g)) {
        const target = relative(ROOT, normalize(join(dirname(file), m[1]!)));
        const top = target.split('/')[0]!;
        checked++;
        if (top !== folder && !allowed.includes(top)) bad.push(`${relative(ROOT, file)} imports ${target} (${folder}/ may import ${allowed.join(', ') || 'nothing'})`);
      }
    }
  }
  assert.ok(checked > 300, `only ${checked} imports found: the scan is broken`);
  assert.deepEqual(bad, []);
});
