import { ManualPlatform } from '../onprem/manual-platform.js';
import type { TargetPlatform } from '../onprem/platform.js';
import { VspherePlatform } from '../onprem/vsphere-platform.js';
import type { AgentConfig } from './config.js';

/**
 * The target platform an agent config names: the one place a platform kind becomes an implementation. Nothing is
 * connected here: the vsphere platform reads its password file and logs in at its first task, so a vCenter that is
 * down or a wrong password fails that task with a named error instead of stopping the agent.
 */
export async function createPlatform(config: AgentConfig['platform']): Promise<TargetPlatform> {
  switch (config.type) {
    case 'manual':
      return new ManualPlatform({ disks: config.disks });
    case 'vsphere': {
      const datastoreMount = config.datastoreMounts[config.datastore];
      // The config schema requires the mount of the configured datastore; this keeps the type honest.
      if (datastoreMount === undefined) throw new TypeError(`no datastoreMounts entry for ${config.datastore}`);
      return new VspherePlatform({
        endpoint: { url: config.url, ...(config.thumbprint === undefined ? {} : { thumbprint: config.thumbprint }) },
        username: config.username,
        passwordFile: config.passwordFile,
        target: {
          datacenter: config.datacenter,
          datastore: config.datastore,
          datastoreMount,
          network: config.network,
          compute: config.cluster,
          ...(config.resourcePool === undefined ? {} : { resourcePool: config.resourcePool }),
          ...(config.folder === undefined ? {} : { vmFolder: config.folder }),
        },
        wait: { until: config.until, timeoutMs: config.guestTimeoutSeconds * 1000 },
      });
    }
  }
}
