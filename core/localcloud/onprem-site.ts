import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AGENT_CONFIG_FORMAT, type AgentConfig } from '../agent/config.js';
import { type AgentProcess, startAgentProcess } from './agent-process.js';
import { type LocalS3Server, startS3Server } from './s3-server.js';
import type { LocalCredentials } from './sigv4.js';
import { startVcsim, type Vcsim } from './vcsim.js';

/**
 * The local on-prem site of the conditional-automated method: what sits on the operator's side of the firewall.
 * - a vCenter (govmomi's vcsim) for the `vsphere` platform, or image files under `dir` for `manual`;
 * - a SECOND S3-compatible server, the on-prem staging store, with its own key pair: passes are staged there and the
 *   agent writes its acks and heartbeat there; the cloud's keys are refused by it, and its keys by the cloud's;
 * - the agent's config file, and the agent as its own process (`bin/homebound.mjs agent --config …`), polling the
 *   local cloud's activity API, which the site can SIGKILL and restart.
 */

/** The bucket the on-prem store holds. */
export const ONPREM_STAGING_BUCKET = 'homebound-onprem-staging';
/** The profile (in the site's AWS credentials file) holding the on-prem store's keys, as docs/agent.md advises. */
export const ONPREM_STORE_PROFILE = 'homebound-onprem-store';
/** vcsim's inventory (core/localcloud/vcsim.ts) as the site's agent config names it. */
export const VCSIM_SITE = {
  datacenter: 'DC0',
  cluster: 'DC0_C0',
  datastore: 'LocalDS_0',
  network: 'VM Network',
} as const;

/** The local cloud as the site needs it: the agent's activity and the endpoint it polls. */
export interface SiteCloud {
  readonly region: string;
  readonly activityArns: Readonly<Record<string, string>>;
  /** Its environment (`AWS_ENDPOINT_URL_SFN`, its keys, Region): the agent's Step Functions side. */
  env(): Record<string, string>;
}

export interface OnPremSiteOptions {
  /** Everything of the site lives here: `store/`, `vcenter/`, `disks/`, `agent-state/`, `agent.json`, `agent.log`. */
  readonly dir: string;
  readonly platform: 'vsphere' | 'manual';
  readonly cloud: SiteCloud;
  /** manual: the takeover volumes to give image files (`disks/<volumeId>.img`, created at PrepareTarget). */
  readonly volumeIds?: readonly string[];
  /** The activity the agent polls. @default the cloud's `homebound-agent` (or its only activity) */
  readonly activityArn?: string;
  /** Agent settings; tests and the drill use short ones. @default heartbeat 2 s, poll 100 ms */
  readonly heartbeatSeconds?: number;
  readonly pollMs?: number;
  /** The on-prem store's keys. @default a fresh random pair */
  readonly storeCredentials?: LocalCredentials;
  /** vsphere: how long a boot waits for the guest. @default 60 s */
  readonly guestTimeoutSeconds?: number;
}

/** Where the on-prem staging store is and the keys it takes (give them to `localS3ClientConfig`). */
export interface OnPremStore {
  readonly s3Endpoint: string;
  readonly region: string;
  readonly bucket: string;
  readonly credentials: LocalCredentials;
}

export interface OnPremSite {
  readonly dir: string;
  readonly platform: 'vsphere' | 'manual';
  readonly store: OnPremStore;
  /** vsphere only. */
  readonly vcsim: Vcsim | undefined;
  /** vsphere: vcsim's datastore directory (the agent's `datastoreMounts`), where `homebound-disks/` appears. */
  readonly datastoreDir: string | undefined;
  /** manual: each volume's image file. */
  readonly manualDisks: Readonly<Record<string, string>>;
  readonly configPath: string;
  readonly config: AgentConfig;
  /** The agent's log file (all its runs appended). */
  readonly agentLogFile: string;
  /** What the drill prints, `KEY=value` each: endpoints and credentials of the site (see docs/agent.md). */
  env(): Record<string, string>;
  /** The agent's environment: the cloud's Step Functions endpoint and keys, the store's keys in a profile file. */
  agentEnv(): Record<string, string>;
  /** The running agent process, if any. */
  agent(): AgentProcess | undefined;
  /** Starts the agent (once it polls). @throws AgentProcessError when it exits or does not poll in time */
  startAgent(): Promise<AgentProcess>;
  /** Stops the running agent with `signal` (SIGKILL for crash trials), then starts a new one. */
  restartAgent(signal?: NodeJS.Signals): Promise<AgentProcess>;
  /** Stops the agent (SIGTERM), vcsim and the store. Files stay under `dir`. */
  stop(): Promise<void>;
}

/**
 * Starts the local on-prem site under `dir`; the agent is not started (`startAgent`).
 * @throws VcsimToolsMissingError (vsphere, no Go or govmomi sources), VcsimStartError
 */
export async function startOnPremSite(options: OnPremSiteOptions): Promise<OnPremSite> {
  const { dir, cloud } = options;
  await mkdir(dir, { recursive: true });
  const credentials = options.storeCredentials ?? randomCredentials();
  const s3 = await startS3Server({
    directory: join(dir, 'store'),
    buckets: [ONPREM_STAGING_BUCKET],
    credentials,
  });
  let vcsim: Vcsim | undefined;
  try {
    const store: OnPremStore = {
      s3Endpoint: s3.endpoint,
      region: cloud.region,
      bucket: ONPREM_STAGING_BUCKET,
      credentials,
    };
    const credentialsFile = join(dir, 'aws-credentials');
    await writeFile(
      credentialsFile,
      `[${ONPREM_STORE_PROFILE}]\naws_access_key_id = ${credentials.accessKeyId}\naws_secret_access_key = ${credentials.secretAccessKey}\n`,
      { mode: 0o600 },
    );
    const manualDisks: Record<string, string> = {};
    let platform: AgentConfig['platform'];
    let datastoreDir: string | undefined;
    if (options.platform === 'vsphere') {
      vcsim = await startVcsim({ dir: join(dir, 'vcenter'), password: randomBytes(12).toString('base64url') });
      const datastore = vcsim.datastores.find((ds) => ds.name === VCSIM_SITE.datastore) ?? vcsim.datastores[0];
      if (datastore === undefined) throw new TypeError('vcsim reported no datastore');
      datastoreDir = datastore.dir;
      const passwordFile = join(dir, 'vcenter-password');
      await writeFile(passwordFile, `${vcsim.password}\n`, { mode: 0o400 });
      platform = {
        type: 'vsphere',
        url: vcsim.url,
        username: vcsim.username,
        passwordFile,
        datacenter: VCSIM_SITE.datacenter,
        cluster: VCSIM_SITE.cluster,
        datastore: datastore.name,
        network: VCSIM_SITE.network,
        datastoreMounts: { [datastore.name]: datastore.dir },
        // vcsim runs no guest, so VMware Tools never report running there.
        until: 'power',
        guestTimeoutSeconds: options.guestTimeoutSeconds ?? 60,
      };
    } else {
      await mkdir(join(dir, 'disks'), { recursive: true });
      const disks: Record<string, { path: string; create: boolean }> = {};
      for (const volumeId of options.volumeIds ?? []) {
        manualDisks[volumeId] = join(dir, 'disks', `${volumeId}.img`);
        disks[volumeId] = { path: manualDisks[volumeId], create: true };
      }
      platform = { type: 'manual', disks };
    }
    const config: AgentConfig = {
      format: AGENT_CONFIG_FORMAT,
      region: cloud.region,
      activityArn: options.activityArn ?? defaultActivity(cloud),
      sfnEndpoint: cloud.env().AWS_ENDPOINT_URL_SFN,
      staging: {
        bucket: store.bucket,
        endpoint: store.s3Endpoint,
        forcePathStyle: true,
        profile: ONPREM_STORE_PROFILE,
      },
      stateDir: join(dir, 'agent-state'),
      workerName: 'onprem-agent',
      heartbeatSeconds: options.heartbeatSeconds ?? 2,
      maxConcurrentTasks: 4,
      pollMs: options.pollMs ?? 100,
      platform,
    };
    const configPath = join(dir, 'agent.json');
    await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);
    return siteOf(
      { dir, platform: options.platform, store, vcsim, datastoreDir, manualDisks, configPath, config },
      {
        s3,
        cloud,
        credentialsFile,
      },
    );
  } catch (error) {
    await vcsim?.stop();
    await s3.close();
    throw error;
  }
}

interface SiteParts {
  readonly dir: string;
  readonly platform: 'vsphere' | 'manual';
  readonly store: OnPremStore;
  readonly vcsim: Vcsim | undefined;
  readonly datastoreDir: string | undefined;
  readonly manualDisks: Record<string, string>;
  readonly configPath: string;
  readonly config: AgentConfig;
}

function siteOf(
  parts: SiteParts,
  running: { s3: LocalS3Server; cloud: SiteCloud; credentialsFile: string },
): OnPremSite {
  const agentLogFile = join(parts.dir, 'agent.log');
  let agent: AgentProcess | undefined;
  const agentEnv = (): Record<string, string> => {
    // The cloud's Step Functions side only: its S3 and EBS endpoints are not the agent's business.
    const { AWS_ENDPOINT_URL_S3: _s3, AWS_ENDPOINT_URL_EBS: _ebs, ...cloudEnv } = running.cloud.env();
    return {
      ...cloudEnv,
      AWS_SHARED_CREDENTIALS_FILE: running.credentialsFile,
      AWS_CONFIG_FILE: join(parts.dir, 'aws-config-none'),
    };
  };
  const startAgent = async () => {
    if (agent !== undefined && !isExited(agent)) return agent;
    agent = await startAgentProcess({ configPath: parts.configPath, env: agentEnv(), logFile: agentLogFile });
    return agent;
  };
  return {
    ...parts,
    agentLogFile,
    env: () => ({
      ...(parts.vcsim === undefined
        ? {}
        : {
            HOMEBOUND_VSPHERE_URL: parts.vcsim.url,
            HOMEBOUND_VSPHERE_USER: parts.vcsim.username,
            HOMEBOUND_VSPHERE_PASSWORD: parts.vcsim.password,
          }),
      ...(parts.datastoreDir === undefined ? {} : { HOMEBOUND_DATASTORE_DIR: parts.datastoreDir }),
      HOMEBOUND_ONPREM_S3_ENDPOINT: parts.store.s3Endpoint,
      HOMEBOUND_ONPREM_S3_BUCKET: parts.store.bucket,
      HOMEBOUND_ONPREM_S3_ACCESS_KEY_ID: parts.store.credentials.accessKeyId,
      HOMEBOUND_ONPREM_S3_SECRET_ACCESS_KEY: parts.store.credentials.secretAccessKey,
      HOMEBOUND_AGENT_CONFIG: parts.configPath,
      HOMEBOUND_AGENT_LOG: agentLogFile,
    }),
    agentEnv,
    agent: () => agent,
    startAgent,
    restartAgent: async (signal = 'SIGKILL') => {
      await agent?.stop(signal);
      agent = undefined;
      return startAgent();
    },
    stop: async () => {
      await agent?.stop('SIGTERM');
      await parts.vcsim?.stop();
      await running.s3.close();
    },
  };
}

function isExited(agent: AgentProcess): boolean {
  return agent.child.exitCode !== null || agent.child.signalCode !== null;
}

function defaultActivity(cloud: SiteCloud): string {
  const arn = cloud.activityArns['homebound-agent'] ?? Object.values(cloud.activityArns)[0];
  if (arn === undefined) throw new TypeError('the local cloud has no activity for the agent');
  return arn;
}

function randomCredentials(): LocalCredentials {
  return {
    accessKeyId: `ONPREM${randomBytes(7).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(24).toString('base64url'),
  };
}
