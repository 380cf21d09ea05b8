import { ManualPlatform } from '../onprem/manual-platform.js';
import { PlatformNotAvailableError, type TargetPlatform } from '../onprem/platform.js';
import type { AgentConfig } from './config.js';

/**
 * The target platform an agent config names. The one place a platform kind becomes an implementation: a vSphere
 * implementation of TargetPlatform (core/vsphere/) plugs in here.
 * @throws PlatformNotAvailableError for a platform this build does not implement (vsphere, for now)
 */
export async function createPlatform(config: AgentConfig['platform']): Promise<TargetPlatform> {
  switch (config.type) {
    case 'manual':
      return new ManualPlatform({ disks: config.disks });
    case 'vsphere':
      // Nothing of it is read yet, the password file included: a config can be written ahead of the implementation.
      throw new PlatformNotAvailableError('vsphere');
  }
}
