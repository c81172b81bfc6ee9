// Image records and references on disk: `<root>/imagedb/<hex>.json` per image and `<root>/repositories.json`
// (full reference → image ID), both written atomically. Configs and layers live in the content store.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJson, writeJsonAtomic } from '../util/fsx';

export interface LayerDescriptor {
  /** Digest of the blob as the registry serves it (compressed, usually). */
  digest: string;
  mediaType: string;
  size: number;
}

export interface ImageRecord {
  id: string;
  configDigest: string;
  chainIds: string[];
  diffIds: string[];
  layers: LayerDescriptor[];
  /** When this engine stored the image (the config's `created` is the build time). */
  stored: string;
  /** The image this one was committed on (a build step's previous image, a commit's container image). */
  parent?: string;
  lastTagTime?: string;
}

export interface RecordStore {
  all(): ImageRecord[];
  get(id: string): ImageRecord | undefined;
  put(r: ImageRecord): void;
  delete(id: string): void;
  /** full reference string → image id */
  refs(): Map<string, string>;
  setRef(ref: string, id: string): void;
  deleteRef(ref: string): void;
}

export function createRecordStore(root: string): RecordStore {
  const db = path.join(root, 'imagedb');
  const reposFile = path.join(root, 'repositories.json');
  fs.mkdirSync(db, { recursive: true });
  const records = new Map<string, ImageRecord>();
  for (const f of fs.readdirSync(db)) {
    if (!/^[a-f0-9]{64}\.json$/.test(f)) continue;
    const r = readJson<ImageRecord>(path.join(db, f));
    if (r) records.set(r.id, r);
  }
  const refs = new Map<string, string>(Object.entries(readJson<Record<string, string>>(reposFile) ?? {}));
  for (const [ref, id] of [...refs]) if (!records.has(id)) refs.delete(ref);
  const saveRefs = () => writeJsonAtomic(reposFile, Object.fromEntries(refs));
  const file = (id: string) => path.join(db, `${id.replace(/^sha256:/, '')}.json`);
  return {
    all: () => [...records.values()],
    get: (id) => records.get(id),
    put(r) {
      writeJsonAtomic(file(r.id), r);
      records.set(r.id, r);
    },
    delete(id) {
      fs.rmSync(file(id), { force: true });
      records.delete(id);
      let changed = false;
      for (const [ref, rid] of refs)
        if (rid === id) {
          refs.delete(ref);
          changed = true;
        }
      if (changed) saveRefs();
    },
    refs: () => refs,
    setRef(ref, id) {
      if (refs.get(ref) === id) return; // a re-pull of a present image writes (and fsyncs) nothing
      refs.set(ref, id);
      saveRefs();
    },
    deleteRef(ref) {
      if (refs.delete(ref)) saveRefs();
    },
  };
}
