import { setTimeout as sleep } from 'node:timers/promises';
import { VsphereFaultError, VsphereLoginError, VsphereTaskTimeoutError, VsphereUnavailableError } from './errors.js';
import { faultName, faultToError } from './faults.js';
import { SoapTransport, type VsphereEndpoint } from './soap-transport.js';
import { type MoRef, moRefElement, textElement, type XmlNode } from './xml.js';

/** The managers of the service content the client uses. */
export interface ServiceContent {
  readonly rootFolder: MoRef;
  readonly propertyCollector: MoRef;
  readonly searchIndex: MoRef;
  readonly sessionManager: MoRef;
  readonly fileManager: MoRef;
  readonly virtualDiskManager: MoRef;
  /** `VirtualCenter` or `HostAgent` (a bare ESXi). */
  readonly apiType: string;
  readonly apiVersion: string;
}

export interface VsphereCredentials {
  readonly username: string;
  readonly password: string;
}

export interface WaitOptions {
  /** Give up after this long (the task keeps running in vCenter). Default 10 min. */
  readonly timeoutMs?: number;
  /** First poll interval; doubles up to 2 s. Default 100 ms. */
  readonly pollMs?: number;
}

const SERVICE_INSTANCE: MoRef = { type: 'ServiceInstance', value: 'ServiceInstance' };

/**
 * A logged-in vim25 session: the service content, property reads (RetrievePropertiesEx) and task waits. The
 * operations (inventory.ts, disks.ts, vm.ts) are functions over it, so each stays small.
 */
export class VsphereClient {
  private loggedOut = false;

  private constructor(
    readonly transport: SoapTransport,
    readonly content: ServiceContent,
    /** Logs in again; a closure, so the credentials are in no field a log or JSON.stringify could show. */
    private readonly login: () => Promise<void>,
  ) {}

  /**
   * Reads the service content, switches to the server's API version and logs in.
   * @throws VsphereLoginError on InvalidLogin (the message names the user, never the password),
   *   VsphereUnavailableError when the endpoint does not answer SOAP.
   */
  static async connect(endpoint: VsphereEndpoint, credentials: VsphereCredentials): Promise<VsphereClient> {
    const transport = new SoapTransport(endpoint);
    const response = await transport.invoke('RetrieveServiceContent', SERVICE_INSTANCE);
    const content = readServiceContent(response.child('returnval'), transport.displayUrl);
    transport.apiVersion = content.apiVersion;
    const login = async () => {
      try {
        await transport.invoke(
          'Login',
          content.sessionManager,
          textElement('userName', credentials.username) + textElement('password', credentials.password),
        );
      } catch (error) {
        if (error instanceof VsphereFaultError && error.faultName === 'InvalidLogin') {
          throw new VsphereLoginError(transport.displayUrl, credentials.username);
        }
        throw error;
      }
    };
    await login();
    return new VsphereClient(transport, content, login);
  }

  /** Ends the session (best effort: a session already gone is not an error). */
  async logout(): Promise<void> {
    if (!this.transport.hasSession) return;
    try {
      await this.transport.invoke('Logout', this.content.sessionManager);
    } catch (error) {
      if (!(error instanceof VsphereFaultError && error.faultName === 'NotAuthenticated')) throw error;
    } finally {
      this.loggedOut = true;
      this.transport.forgetSession();
    }
  }

  /**
   * Calls a vim25 method; `body` is the parameters after `_this`, written with the xml.ts helpers.
   * A session vCenter ended (idle timeout, restart) is renewed once: NotAuthenticated means the call did not run, so
   * repeating it is safe even for a `*_Task` method. After `logout` nothing is renewed.
   */
  async invoke(method: string, thisRef: MoRef, body = ''): Promise<XmlNode> {
    try {
      return await this.transport.invoke(method, thisRef, body);
    } catch (error) {
      if (this.loggedOut || !(error instanceof VsphereFaultError && error.faultName === 'NotAuthenticated'))
        throw error;
      this.transport.forgetSession();
      await this.login();
      return this.transport.invoke(method, thisRef, body);
    }
  }

  /**
   * Reads properties of one object. Returns each property path that has a value (an unset property is absent).
   * @throws VsphereFaultError `ManagedObjectNotFound` when the object is gone.
   */
  async properties(obj: MoRef, paths: readonly string[]): Promise<Map<string, XmlNode>> {
    const spec =
      '<specSet><propSet>' +
      textElement('type', obj.type) +
      paths.map((path) => textElement('pathSet', path)).join('') +
      `</propSet><objectSet>${moRefElement('obj', obj)}${textElement('skip', false)}</objectSet></specSet>` +
      '<options></options>';
    const response = await this.invoke('RetrievePropertiesEx', this.content.propertyCollector, spec);
    const values = new Map<string, XmlNode>();
    for (const objectContent of response.child('returnval')?.children('objects') ?? []) {
      for (const missing of objectContent.children('missingSet')) {
        const fault = missing.child('fault')?.child('fault');
        throw faultToError(faultName(fault), `reading ${missing.childText('path') ?? '?'} of ${describe(obj)}`);
      }
      for (const prop of objectContent.children('propSet')) {
        const name = prop.childText('name');
        const val = prop.child('val');
        if (name !== undefined && val !== undefined) values.set(name, val);
      }
    }
    return values;
  }

  /** One property's value, or undefined when unset. */
  async property(obj: MoRef, path: string): Promise<XmlNode | undefined> {
    return (await this.properties(obj, [path])).get(path);
  }

  /**
   * Polls a task's `info.state` until `success` (returns `info.result`, if any) or `error` (throws its fault, mapped
   * like a SOAP fault: VsphereFileAlreadyExistsError, VsphereInsufficientResourcesError, VsphereFaultError).
   * @throws VsphereTaskTimeoutError when the task is still queued or running after `timeoutMs`.
   */
  async waitForTask(task: MoRef, options: WaitOptions = {}): Promise<XmlNode | undefined> {
    const timeoutMs = options.timeoutMs ?? 600_000;
    const deadline = Date.now() + timeoutMs;
    let pollMs = options.pollMs ?? 100;
    for (;;) {
      const info = await this.property(task, 'info');
      const state = info?.childText('state');
      if (state === 'success') return info?.child('result');
      if (state === 'error') {
        const error = info?.child('error');
        const message = error?.childText('localizedMessage') ?? '';
        throw faultToError(
          faultName(error?.child('fault')),
          `task ${info?.childText('descriptionId') ?? task.value}${message === '' ? '' : `: ${message}`}`,
        );
      }
      if (state !== 'queued' && state !== 'running') {
        throw new VsphereUnavailableError(`task ${task.value} reports an unknown state ${state ?? '(none)'}`);
      }
      if (Date.now() >= deadline) throw new VsphereTaskTimeoutError(task.value, timeoutMs);
      await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())));
      pollMs = Math.min(pollMs * 2, 2_000);
    }
  }

  /** Calls a `*_Task` method and waits for it. */
  async runTask(method: string, thisRef: MoRef, body = '', options: WaitOptions = {}): Promise<XmlNode | undefined> {
    const response = await this.invoke(method, thisRef, body);
    const task = response.child('returnval');
    if (task === undefined) throw new VsphereUnavailableError(`${method} returned no task`);
    return this.waitForTask(task.moRef(), options);
  }
}

function readServiceContent(node: XmlNode | undefined, url: string): ServiceContent {
  const ref = (name: string): MoRef => {
    const child = node?.child(name);
    if (child === undefined) throw new VsphereUnavailableError(`${url}: the service content has no ${name}`);
    return child.moRef();
  };
  const about = node?.child('about');
  return {
    rootFolder: ref('rootFolder'),
    propertyCollector: ref('propertyCollector'),
    searchIndex: ref('searchIndex'),
    sessionManager: ref('sessionManager'),
    fileManager: ref('fileManager'),
    virtualDiskManager: ref('virtualDiskManager'),
    apiType: about?.childText('apiType') ?? 'unknown',
    apiVersion: about?.childText('apiVersion') ?? '6.5',
  };
}

function describe(obj: MoRef): string {
  return `${obj.type} ${obj.value}`;
}
