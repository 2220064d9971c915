/**
 * What the documentation tests need to read Markdown as GitHub renders it: the files they cover,
 * the anchors a page's headings make, and its links and fenced code blocks. Code blocks are
 * skipped when looking for headings and links, as GitHub does.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** README.md, docs/*.md, examples/README.md and bench/*.md, as paths relative to the repository. */
export function documentationFiles(): string[] {
  const inFolder = (folder: string) =>
    readdirSync(`${ROOT}${folder}`).filter((name) => name.endsWith('.md')).map((name) => `${folder}/${name}`);
  return ['README.md', ...inFolder('docs'), 'examples/README.md', ...inFolder('bench')].sort();
}

export function readDoc(path: string): string {
  return readFileSync(`${ROOT}${path}`, 'utf8');
}

export interface Fence {
  /** The info string after the opening backticks, e.g. "sh run". */
  info: string;
  body: string;
  /** 1-based line of the opening fence. */
  line: number;
}

/** Splits a page into its prose lines (with line numbers) and its fenced code blocks. */
export function parse(text: string): { prose: { line: number; text: string }[]; fences: Fence[] } {
  const prose: { line: number; text: string }[] = [];
  const fences: Fence[] = [];
  let open: { marker: string; info: string; line: number; body: string[] } | undefined;
  text.split('\n').forEach((line, index) => {
    const fence = /^(\s*)(`{3,}|~{3,})(.*)$/.exec(line);
    if (open) {
      if (fence && fence[2]!.startsWith(open.marker) && fence[3]!.trim() === '') {
        fences.push({ info: open.info, body: open.body.join('\n') + '\n', line: open.line });
        open = undefined;
      } else {
        open.body.push(line);
      }
    } else if (fence) {
      open = { marker: fence[2]!, info: fence[3]!.trim(), line: index + 1, body: [] };
    } else {
      prose.push({ line: index + 1, text: line });
    }
  });
  return { prose, fences };
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1') // a link in a heading keeps its text
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Every anchor a page offers: its headings' (with -1, -2… for repeats) and explicit id/name attributes. */
export function anchors(text: string): Set<string> {
  const found = new Set<string>();
  const counts = new Map<string, number>();
  for (const { text: line } of parse(text).prose) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      const base = slug(heading[1]!);
      const seen = counts.get(base) ?? 0;
      counts.set(base, seen + 1);
      found.add(seen === 0 ? base : `${base}-${seen}`);
    }
    for (const match of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) found.add(match[1]!);
  }
  return found;
}

/** Inline links and images `[text](target)` outside code, with their line. */
export function links(text: string): { line: number; target: string }[] {
  const result: { line: number; target: string }[] = [];
  for (const { line, text: content } of parse(text).prose) {
    const withoutCode = content.replace(/`[^`]*`/g, '');
    for (const match of withoutCode.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      result.push({ line, target: match[1]! });
    }
  }
  return result;
}
