/** Helpers for the docs tests: find the Markdown pages, their fenced code blocks and their links. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const DOCS = join(ROOT, 'docs');

/** Every .md file under docs/ (not the generated docs/api/). */
export function docPages(dir = DOCS): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return p === join(DOCS, 'api') ? [] : docPages(p);
    return name.endsWith('.md') ? [p] : [];
  }).sort();
}

export interface CodeBlock {
  page: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  code: string;
}

/** Fenced blocks (``` at the start of a line) with their language tag. */
export function codeBlocks(page: string): CodeBlock[] {
  const lines = readFileSync(page, 'utf8').split('\n');
  const out: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    out.push({ page, line: start + 1, lang: open[1]!, code: body.join('\n') });
  }
  return out;
}

/** Markdown text with fenced blocks and inline code spans blanked (links there are not links). */
function proseOnly(text: string, spans = true): string {
  const noFences = text.replace(/^```[^\n]*\n[\s\S]*?^```\s*$/gm, (m) => m.replace(/[^\n]/g, ' '));
  return spans ? noFences.replace(/`[^`\n]*`/g, (m) => ' '.repeat(m.length)) : noFences;
}

export interface Link {
  page: string;
  line: number;
  target: string;
}

/** Inline links and images `[text](target)` outside code. */
export function links(page: string): Link[] {
  const text = proseOnly(readFileSync(page, 'utf8'));
  const out: Link[] = [];
  const re = /!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g;
  for (const m of text.matchAll(re)) {
    const line = text.slice(0, m.index).split('\n').length;
    out.push({ page, line, target: m[1]! });
  }
  return out;
}

/** GitHub's heading anchors of a Markdown file (lower case, punctuation dropped, spaces → '-'). */
export function anchors(page: string): Set<string> {
  const text = proseOnly(readFileSync(page, 'utf8'), false);
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of text.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = m[1]!
      .replace(/`/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

export const where = (x: { page: string; line: number }): string => `${relative(ROOT, x.page)}:${x.line}`;
