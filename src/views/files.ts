// The rows of a container's (or volume's) folder in the trees: folders first, then files, as the Explorer sorts;
// links show their target. Plain records like the rest of the trees' models.
import { formatSize, type TreeRecord } from './model';

/** What the rows need of an entry (src/extension/files/containerFiles.ts's FileEntry). */
export interface FileRowEntry {
  name: string;
  kind: 'file' | 'directory' | 'symlink' | 'other';
  targetKind?: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  linkTarget?: string;
  mode: number;
  uid?: number;
  gid?: number;
}

const isFolder = (e: FileRowEntry) => e.kind === 'directory' || (e.kind === 'symlink' && e.targetKind === 'directory');

/** Child rows of a folder row (`parent.fileUri` ends with `/` or names the folder). */
export function buildFileRecords(parent: TreeRecord, entries: FileRowEntry[]): TreeRecord[] {
  const base = parent.fileUri!.replace(/\/?$/, '/');
  const sorted = [...entries].sort((a, b) =>
    isFolder(a) !== isFolder(b) ? (isFolder(a) ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  return sorted.map((e) => {
    const folder = isFolder(e);
    const uri = base + encodeURIComponent(e.name);
    const description =
      e.kind === 'symlink' ? `→ ${e.linkTarget ?? '?'}` : folder || e.kind === 'other' ? '' : formatSize(e.size);
    const owner = e.uid === undefined ? '' : `\nOwner: ${e.uid}:${e.gid}`;
    const tooltip = `${decodeURIComponent(uri.replace(/^[^:]+:\/\/[^/]*/, ''))}\nMode: ${e.mode.toString(8).padStart(4, '0')}${owner}${
      e.kind === 'symlink' ? `\nLink to: ${e.linkTarget}` : e.kind === 'file' ? `\nSize: ${formatSize(e.size)}` : ''
    }`;
    const contextValue = `file.${folder ? 'directory' : e.kind === 'other' ? 'other' : 'file'}`;
    return {
      id: `${parent.id}/${e.name}`,
      kind: 'file' as const,
      label: e.name,
      description,
      tooltip,
      contextValue,
      icon: {
        id:
          e.kind === 'symlink' ? (folder ? 'file-symlink-directory' : 'file-symlink-file') : folder ? 'folder' : 'file',
      },
      containerId: parent.containerId,
      containerName: parent.containerName,
      volumeName: parent.volumeName,
      fileUri: folder ? `${uri}/` : uri,
      resourceUri: uri,
      lazy: folder || undefined,
      open: folder || e.kind === 'other' ? undefined : { command: 'vscode.open', title: 'Open' },
      signature: `${e.name}|${description}|${tooltip}|${contextValue}`,
    };
  });
}
