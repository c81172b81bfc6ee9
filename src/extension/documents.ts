// Read-only documents under the `berth:` scheme: inspect output as JSON and the Diagnose report. A content
// provider (not an untitled file) so they cannot be edited or accidentally saved, and reopen fresh each time.
import * as vscode from 'vscode';
import type { Berth } from './berth';
import { diagnose, renderDiagnosis } from './engine/diagnose';

export const SCHEME = 'berth';

export class BerthDocuments implements vscode.TextDocumentContentProvider {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  constructor(private readonly berth: Berth) {}

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const q = new URLSearchParams(uri.query);
    const id = q.get('id') ?? '';
    const client = this.berth.client();
    const kind = uri.path.split('/')[1];
    try {
      switch (kind) {
        case 'container':
          return JSON.stringify(await client.inspectContainer(id, { size: true }), null, 2) + '\n';
        case 'image':
          return JSON.stringify(await client.inspectImage(id), null, 2) + '\n';
        case 'volume':
          return JSON.stringify(await client.inspectVolume(id), null, 2) + '\n';
        case 'network':
          return JSON.stringify(await client.inspectNetwork(id), null, 2) + '\n';
        case 'diagnose':
          return renderDiagnosis(diagnose());
        default:
          return `unknown document ${uri.toString()}`;
      }
    } catch (err: any) {
      return JSON.stringify({ error: err?.message ?? String(err) }, null, 2) + '\n';
    }
  }

  /** Opens (or refreshes) the inspect document of a container, image or volume. */
  async inspect(kind: 'container' | 'image' | 'volume' | 'network', id: string, name: string): Promise<void> {
    const safe = name.replace(/[/\\:@]+/g, '_');
    const uri = vscode.Uri.from({
      scheme: SCHEME,
      path: `/${kind}/${safe}.json`,
      query: new URLSearchParams({ id }).toString(),
    });
    this.changed.fire(uri);
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.languages.setTextDocumentLanguage(doc, 'json');
    await vscode.window.showTextDocument(doc, { preview: true });
  }

  async showDiagnosis(): Promise<void> {
    const uri = vscode.Uri.from({ scheme: SCHEME, path: '/diagnose/Berth Diagnosis.md' });
    this.changed.fire(uri);
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.languages.setTextDocumentLanguage(doc, 'markdown');
    await vscode.commands
      .executeCommand('markdown.showPreview', uri)
      .then(undefined, () => vscode.window.showTextDocument(doc));
  }
}
