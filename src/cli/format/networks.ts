// network ls's rows: NetworkContext.
import type { Network } from '../../client';
import { goTimeString } from '../../common/docker';
import { FormatContext, labelsString, truncateId } from './render';

export class NetworkContext extends FormatContext {
  constructor(
    private n: Network,
    private trunc = true,
  ) {
    super();
  }
  headers() {
    return {
      ID: 'NETWORK ID',
      Name: 'NAME',
      Driver: 'DRIVER',
      Scope: 'SCOPE',
      IPv4: 'IPV4',
      IPv6: 'IPV6',
      Internal: 'INTERNAL',
      Labels: 'LABELS',
      CreatedAt: 'CREATED AT',
    };
  }
  jsonFields() {
    return ['CreatedAt', 'Driver', 'ID', 'IPv4', 'IPv6', 'Internal', 'Labels', 'Name', 'Scope'];
  }
  get ID() {
    return this.trunc ? truncateId(this.n.Id) : this.n.Id;
  }
  get Name() {
    return this.n.Name;
  }
  get Driver() {
    return this.n.Driver;
  }
  get Scope() {
    return this.n.Scope;
  }
  get IPv4() {
    return String(this.n.EnableIPv4 ?? false);
  }
  get IPv6() {
    return String(this.n.EnableIPv6);
  }
  get Internal() {
    return String(this.n.Internal);
  }
  get Labels() {
    return labelsString(this.n.Labels);
  }
  Label(name: string) {
    return this.n.Labels?.[name] ?? '';
  }
  get CreatedAt() {
    return goTimeStringNanos(this.n.Created);
  }
}

/** time.Time.String() with nanoseconds for an RFC 3339 timestamp. */
function goTimeStringNanos(rfc3339: string): string {
  const m = /\.(\d+)/.exec(rfc3339);
  const base = goTimeString(Math.floor(Date.parse(rfc3339) / 1000));
  if (!m || /^0+$/.test(m[1])) return base;
  return base.replace(/^(\S+ \S+)/, `$1.${m[1].replace(/0+$/, '')}`);
}

export const DEFAULT_NETWORK_FORMAT = 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}';
