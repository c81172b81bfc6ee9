// What the noun commands (container, image, network, volume, system) print alike: inspect and prune output.
import { type Cli, StatusError, describeError } from '../cli';
import { Template, humanSize, inspectJson } from '../format';

/** docker's inspect output: an indented JSON array, or each object through -f/--format ("json" = {{json .}}). */
export function writeInspect(cli: Cli, objects: unknown[], format?: string): void {
  if (!format) {
    cli.out.write(inspectJson(objects));
    return;
  }
  const tmpl = new Template(format === 'json' ? '{{json .}}' : format);
  for (const o of objects) cli.out.write(tmpl.execute(o) + '\n');
}

/**
 * `<noun> inspect NAME…`: prints every object found, then one "Error: …" line per name that failed, exit status 1.
 * `reword` adjusts a noun's own error message first (docker words some of them differently).
 */
export async function inspectEach(
  cli: Cli,
  names: string[],
  format: string | undefined,
  inspect: (name: string) => Promise<unknown>,
  reword: (message: string) => string = (message) => message,
): Promise<void> {
  const found: unknown[] = [];
  const errors: string[] = [];
  for (const n of names) {
    try {
      found.push(await inspect(n));
    } catch (err) {
      errors.push(reword(describeError(err, cli.host())).replace(/^Error response from daemon: /, 'Error: '));
    }
  }
  writeInspect(cli, found, format);
  if (errors.length) throw new StatusError(1, errors.join('\n'));
}

/** A prune report's "Deleted Xs:" section (a line each, then a blank line); nothing when nothing was deleted. */
export function writeDeleted(cli: Cli, title: string, lines: string[]): void {
  if (lines.length) cli.out.write(`${title}:\n${lines.map((l) => `${l}\n`).join('')}\n`);
}

/** The last line of docker's container/image/volume/system prune. */
export function writeReclaimedSpace(cli: Cli, bytes: number): void {
  cli.out.write(`Total reclaimed space: ${humanSize(bytes)}\n`);
}
