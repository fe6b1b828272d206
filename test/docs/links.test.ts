// Every relative link in docs/**/*.md (pages, images, source files, folders, and #anchors of
// Markdown targets) must exist, so the docs cannot point at moved or deleted things.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { anchors, docPages, links, where } from './markdown.ts';

test('docs pages exist', () => {
  assert.ok(docPages().length >= 10, `found only ${docPages().length} pages under docs/`);
});

test('every relative link and anchor in docs/ resolves', () => {
  const broken: string[] = [];
  for (const page of docPages()) {
    for (const l of links(page)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(l.target)) continue; // http:, https:, mailto:
      const [path, frag] = l.target.split('#') as [string, string | undefined];
      const file = path === '' ? page : resolve(dirname(page), decodeURI(path));
      if (!existsSync(file)) {
        broken.push(`${where(l)}: ${l.target} (no such file)`);
        continue;
      }
      if (frag !== undefined && file.endsWith('.md') && statSync(file).isFile() && !anchors(file).has(frag)) {
        broken.push(`${where(l)}: ${l.target} (no heading with anchor #${frag})`);
      }
    }
  }
  assert.deepEqual(broken, []);
});

test('images under docs/images are small', () => {
  for (const page of docPages()) {
    for (const l of links(page)) {
      if (!/\.(png|jpe?g|gif|svg)$/i.test(l.target) || /^[a-z]+:/i.test(l.target)) continue;
      const size = statSync(resolve(dirname(page), l.target)).size;
      assert.ok(size < 300 * 1024, `${where(l)}: ${l.target} is ${size} bytes (keep images under 300 KB)`);
    }
  }
});
