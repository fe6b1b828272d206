// Every ```ts block in docs/**/*.md is type-checked against the real modules (tsc --noEmit) and
// run (tsx), so the docs cannot rot. Imports in the snippets are written relative to the
// repository root ('./engine/…'); they are rewritten for a temporary folder inside test/docs/.
// A block whose first line is `// typecheck-only` is not run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { codeBlocks, docPages, ROOT, where, type CodeBlock } from './markdown.ts';

const blocks: CodeBlock[] = docPages().flatMap(codeBlocks).filter((b) => b.lang === 'ts' || b.lang === 'typescript');
const dir = join(ROOT, 'test', 'docs', `.snippets-${process.pid}`);
const up = relative(dir, ROOT).split('\\').join('/'); // '../../..'

function fileName(b: CodeBlock): string {
  return `${relative(join(ROOT, 'docs'), b.page).replace(/[^\w]+/g, '_')}_L${b.line}.ts`;
}

/** Snippet source with root-relative imports rewritten for `dir`, and `export {}` to make it a module. */
function source(b: CodeBlock): string {
  const code = b.code.replace(/(from\s+|import\s*\(\s*|import\s+)(['"])\.\/([^'"]+)\2/g, (_, kw: string, q: string, p: string) => `${kw}${q}${up}/${p}${q}`);
  return `// ${where(b)}\n${code}\nexport {};\n`;
}

test('docs contain ts snippets', () => {
  assert.ok(blocks.length >= 5, `only ${blocks.length} ts blocks found`);
});

test('docs snippets type-check and run', { timeout: 120_000 }, () => {
  mkdirSync(dir, { recursive: true });
  try {
    const files = blocks.map((b) => {
      const f = join(dir, fileName(b));
      writeFileSync(f, source(b));
      return { b, f };
    });
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ extends: `${up}/tsconfig.json`, include: ['*.ts'] }));
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8', cwd: ROOT });
    assert.equal(tsc.status, 0, `tsc failed on the docs snippets:\n${tsc.stdout}${tsc.stderr}`);
    const failures: string[] = [];
    for (const { b, f } of files) {
      if (/^\s*\/\/ typecheck-only/.test(b.code)) continue;
      const r = spawnSync(process.execPath, ['--import', 'tsx', f], { encoding: 'utf8', cwd: ROOT, timeout: 60_000, env: { ...process.env, AVDIT_BACKEND: 'cpu' } });
      if (r.status !== 0) failures.push(`${where(b)} (${basename(f)}) exited ${r.status}:\n${r.stdout}${r.stderr}`);
    }
    assert.deepEqual(failures, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
