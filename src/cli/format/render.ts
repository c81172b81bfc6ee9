import { tabwrite } from './tabwriter';
import { Template } from './template';

/** A row's fields for templates: plain values or no-argument getters; methods with arguments (Label "x") too. */
export abstract class FormatContext {
  /** Column titles for the table header, by field name. */
  abstract headers(): Record<string, string>;
  /** The fields `{{json .}}` shows (docker marshals every no-argument method). */
  abstract jsonFields(): string[];
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const f of this.jsonFields().sort()) out[f] = (this as unknown as Record<string, unknown>)[f];
    return out;
  }
}

/** Header row context: every field answers its column title, Label "x" answers x (as docker prints). */
function headerContext(ctx: FormatContext): Record<string, unknown> {
  const h: Record<string, unknown> = { ...ctx.headers() };
  h.Label = (name: string) => name;
  return h;
}

/** The format to use: the user's, or the default table (also for a bare `--format table`, as docker). */
export function pickFormat(user: string | undefined, defaultTable: string): string {
  return user === undefined || user.trim() === 'table' ? defaultTable : user;
}

export function isTableFormat(format: string): boolean {
  return format.startsWith('table');
}

/** `\t` and `\n` typed literally on the command line mean tab and newline, as in docker. */
function unescapeFormat(format: string): string {
  return format.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
}

/**
 * Renders rows with a docker format: "table …" (tabwriter with a header row), "json" ({{json .}} per line), or
 * any other template (one execution per row).
 */
export function renderFormat(format: string, rows: FormatContext[], sample?: FormatContext): string {
  if (format === 'json') format = '{{json .}}';
  const table = isTableFormat(format);
  const tmpl = new Template(unescapeFormat(table ? format.slice(5).replace(/^\s/, '') : format));
  let body = '';
  for (const r of rows) body += tmpl.execute(r) + '\n';
  if (!table) return body;
  const headerFrom = rows[0] ?? sample;
  const header = headerFrom ? tmpl.executeHeader(headerContext(headerFrom)) : '';
  return tabwrite(`${header}\n${body}`);
}

export function truncateId(id: string): string {
  const i = id.indexOf(':');
  const s = i >= 0 ? id.slice(i + 1) : id;
  return s.slice(0, 12);
}

/** docker's Ellipsis: at most `max` characters, the last one "…" when cut. */
export function ellipsis(s: string, max: number): string {
  const r = [...s];
  if (r.length <= max) return s;
  if (max <= 0) return '';
  return r.slice(0, max - 1).join('') + '…';
}

export function labelsString(labels: Record<string, string> | null | undefined): string {
  return Object.entries(labels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** docker inspect's output: the raw objects, indented by four spaces, HTML characters escaped like Go. */
export function inspectJson(objects: unknown[]): string {
  if (!objects.length) return '[]\n';
  return (
    JSON.stringify(objects, null, 4).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026') + '\n'
  );
}
