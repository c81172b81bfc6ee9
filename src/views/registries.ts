// The Registries view's rows: each registry the user logged in to, its repositories (`_catalog`) and their tags
// (`tags/list`), the last two listed when expanded.
import type { TreeRecord } from './model';

export function buildRegistryTree(registries: { address: string; username?: string }[]): TreeRecord[] {
  return [...registries]
    .sort((a, b) => a.address.localeCompare(b.address))
    .map((r) => {
      const description = r.username ? `as ${r.username}` : 'anonymous';
      return {
        id: `registry:${r.address}`,
        kind: 'registry' as const,
        label: r.address,
        description,
        tooltip: `${r.address}\n${r.username ? `Logged in as ${r.username} (credentials in VS Code's secret storage)` : 'No credentials'}`,
        contextValue: 'registry',
        icon: { id: 'server' },
        registry: r.address,
        lazy: true,
        expanded: false,
        signature: `${r.address}|${description}`,
      };
    });
}

export function buildRepositoryRecords(parent: TreeRecord, repositories: string[]): TreeRecord[] {
  return [...repositories].sort().map((repository) => ({
    id: `${parent.id}/${repository}`,
    kind: 'repository' as const,
    label: repository,
    contextValue: 'registry.repository',
    icon: { id: 'repo' },
    registry: parent.registry,
    repository,
    lazy: true,
    expanded: false,
    signature: repository,
  }));
}

export function buildTagRecords(parent: TreeRecord, tags: string[], reference: (tag: string) => string): TreeRecord[] {
  return tags.map((tag) => ({
    id: `${parent.id}:${tag}`,
    kind: 'tag' as const,
    label: tag,
    description: reference(tag),
    contextValue: 'registry.tag',
    icon: { id: 'tag' },
    registry: parent.registry,
    repository: parent.repository,
    imageRef: reference(tag),
    signature: `${tag}|${reference(tag)}`,
  }));
}
