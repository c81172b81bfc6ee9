// Every command, one file each under commands/<noun>/<verb>.ts. activate() registers this list.
import type { BerthCommand } from './command';
import compose_logs from './compose/logs';
import compose_remove from './compose/remove';
import compose_restart from './compose/restart';
import compose_start from './compose/start';
import compose_stop from './compose/stop';
import container_copyId from './container/copyId';
import container_inspect from './container/inspect';
import container_logs from './container/logs';
import container_openFiles from './container/openFiles';
import container_openInBrowser from './container/openInBrowser';
import container_pause from './container/pause';
import container_prune from './container/prune';
import container_refresh from './container/refresh';
import container_remove from './container/remove';
import container_restart from './container/restart';
import container_shell from './container/shell';
import container_start from './container/start';
import container_stats from './container/stats';
import container_stop from './container/stop';
import container_unpause from './container/unpause';
import engine_diagnose from './engine/diagnose';
import engine_installService from './engine/installService';
import engine_openSettings from './engine/openSettings';
import engine_restart from './engine/restart';
import engine_showLog from './engine/showLog';
import engine_start from './engine/start';
import engine_stop from './engine/stop';
import engine_switch from './engine/switch';
import file_delete from './file/delete';
import file_download from './file/download';
import file_refresh from './file/refresh';
import file_upload from './file/upload';
import image_build from './image/build';
import image_inspect from './image/inspect';
import image_prune from './image/prune';
import image_pull from './image/pull';
import image_push from './image/push';
import image_refresh from './image/refresh';
import image_remove from './image/remove';
import image_run from './image/run';
import image_runInteractive from './image/runInteractive';
import image_tag from './image/tag';
import network_connect from './network/connect';
import network_create from './network/create';
import network_disconnect from './network/disconnect';
import network_inspect from './network/inspect';
import network_prune from './network/prune';
import network_refresh from './network/refresh';
import network_remove from './network/remove';
import registry_login from './registry/login';
import registry_logout from './registry/logout';
import registry_pull from './registry/pull';
import registry_refresh from './registry/refresh';
import system_prune from './system/prune';
import system_pruneBuildCache from './system/pruneBuildCache';
import system_refresh from './system/refresh';
import volume_create from './volume/create';
import volume_inspect from './volume/inspect';
import volume_openFiles from './volume/openFiles';
import volume_prune from './volume/prune';
import volume_refresh from './volume/refresh';
import volume_remove from './volume/remove';

export const COMMANDS: BerthCommand[] = [
  compose_logs,
  compose_remove,
  compose_restart,
  compose_start,
  compose_stop,
  container_copyId,
  container_inspect,
  container_logs,
  container_openFiles,
  container_openInBrowser,
  container_pause,
  container_prune,
  container_refresh,
  container_remove,
  container_restart,
  container_shell,
  container_start,
  container_stats,
  container_stop,
  container_unpause,
  engine_diagnose,
  engine_installService,
  engine_openSettings,
  engine_restart,
  engine_showLog,
  engine_start,
  engine_stop,
  engine_switch,
  file_delete,
  file_download,
  file_refresh,
  file_upload,
  image_build,
  image_inspect,
  image_prune,
  image_pull,
  image_push,
  image_refresh,
  image_remove,
  image_run,
  image_runInteractive,
  image_tag,
  network_connect,
  network_create,
  network_disconnect,
  network_inspect,
  network_prune,
  network_refresh,
  network_remove,
  registry_login,
  registry_logout,
  registry_pull,
  registry_refresh,
  system_prune,
  system_pruneBuildCache,
  system_refresh,
  volume_create,
  volume_inspect,
  volume_openFiles,
  volume_prune,
  volume_refresh,
  volume_remove,
];
