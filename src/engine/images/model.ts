// The image subsystem's records as the engine sees them, and what its own parts (save/load, push, distribution)
// use of it: the stores behind the interface, which nothing outside images/ reaches.
import type { ContentStore } from '../content';
import type { EventBus } from '../events';
import { fullName, type Reference, type RegistryService } from '../registry';
import type { Snapshotter } from '../snapshots';
import type { ImageRecord } from './store';

export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  author?: string;
  config?: {
    Env?: string[];
    Cmd?: string[];
    Entrypoint?: string[];
    WorkingDir?: string;
    User?: string;
    ExposedPorts?: Record<string, object>;
    Volumes?: Record<string, object>;
    Labels?: Record<string, string>;
    StopSignal?: string;
    [k: string]: unknown;
  };
  rootfs: { type: string; diff_ids: string[] };
  history?: { created?: string; created_by?: string; empty_layer?: boolean; comment?: string; author?: string }[];
  [k: string]: unknown;
}

export interface Image {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  created: string;
  size: number;
  config: ImageConfig;
  chainIds: string[];
  /** The image this one was committed on (none for pulled and loaded images). */
  parent?: string;
}

export interface DeleteResult {
  untagged?: string;
  deleted?: string;
}

export function refKey(ref: Reference): string {
  let s = fullName(ref);
  if (ref.tag) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}

/** The subsystem as its parts see it: its operations and the stores behind them. */
export interface ImageParts {
  get(refOrId: string): Promise<Image>;
  list(): Promise<Image[]>;
  record(id: string): ImageRecord;
  register(record: Omit<ImageRecord, 'stored'>, refs: string[]): Promise<Image>;
  addRef(ref: Reference, id: string): void;
  gc(): void;
  content: ContentStore;
  snapshots: Snapshotter;
  registry: RegistryService;
  events: EventBus;
}
