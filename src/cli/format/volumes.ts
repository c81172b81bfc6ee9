// volume ls's rows: VolumeContext.
import type { Volume } from '../../client';
import { humanSize } from '../../common/docker';
import { FormatContext, labelsString } from './render';

export class VolumeContext extends FormatContext {
  constructor(private v: Volume) {
    super();
  }
  headers() {
    return {
      Name: 'VOLUME NAME',
      Driver: 'DRIVER',
      Scope: 'SCOPE',
      Mountpoint: 'MOUNTPOINT',
      Labels: 'LABELS',
      Links: 'LINKS',
      Size: 'SIZE',
      Group: 'GROUP',
      Availability: 'AVAILABILITY',
      Status: 'STATUS',
    };
  }
  jsonFields() {
    return ['Availability', 'Driver', 'Group', 'Labels', 'Links', 'Mountpoint', 'Name', 'Scope', 'Size', 'Status'];
  }
  get Name() {
    return this.v.Name;
  }
  get Driver() {
    return this.v.Driver;
  }
  get Scope() {
    return this.v.Scope;
  }
  get Mountpoint() {
    return this.v.Mountpoint;
  }
  get Labels() {
    return labelsString(this.v.Labels);
  }
  Label(name: string) {
    return this.v.Labels?.[name] ?? '';
  }
  get Links() {
    return this.v.UsageData && this.v.UsageData.RefCount >= 0 ? String(this.v.UsageData.RefCount) : 'N/A';
  }
  get Size() {
    return this.v.UsageData && this.v.UsageData.Size >= 0 ? humanSize(this.v.UsageData.Size) : 'N/A';
  }
  get Group() {
    return 'N/A';
  }
  get Availability() {
    return 'N/A';
  }
  get Status() {
    return 'N/A';
  }
}

export const DEFAULT_VOLUME_FORMAT = 'table {{.Driver}}\t{{.Name}}';
