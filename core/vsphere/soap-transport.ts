import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { VsphereCertificateMismatchError, VsphereUnavailableError } from './errors.js';
import { faultName, faultToError } from './faults.js';
import { envelope, type MoRef, XmlNode } from './xml.js';

/** Where the vim25 API is and how to trust it. */
export interface VsphereEndpoint {
  /** The SDK URL, e.g. `https://vcenter.example/sdk`. User info in the URL is refused (credentials go to login). */
  readonly url: string;
  /** PEM CA bundle for a vCenter whose certificate is not signed by a public CA. */
  readonly ca?: string;
  /**
   * Trust exactly the certificate with this SHA-256 fingerprint (hex, colons optional), whoever signed it: vCenter's
   * own VMCA-signed certificate without installing the VMCA root. Checked before any byte of a request is sent.
   */
  readonly thumbprint?: string;
  /** Accept any certificate (a lab without a CA). Default false. */
  readonly insecure?: boolean;
  /** Per-request timeout. Default 60 s. */
  readonly requestTimeoutMs?: number;
}

/** The vim25 API version requests are sent as before the server's own is known (RetrieveServiceContent). */
export const BASELINE_API_VERSION = '6.5';

const SESSION_COOKIE = 'vmware_soap_session';

/**
 * One SOAP conversation with vCenter: POSTs envelopes to the SDK URL with `SOAPAction: urn:vim25/<version>`, keeps
 * the `vmware_soap_session` cookie Login sets, and turns SOAP faults into named errors (faults.ts).
 * Request bodies are never logged or put into errors: Login's holds the password.
 */
export class SoapTransport {
  // A private field: JSON.stringify and util.inspect of the client never show the session (a credential).
  #sessionCookie: string | undefined;
  private readonly url: URL;
  private readonly thumbprint: string | undefined;
  /** Set to the server's apiVersion once the service content is known. */
  apiVersion = BASELINE_API_VERSION;

  constructor(private readonly endpoint: VsphereEndpoint) {
    const url = new URL(endpoint.url);
    if (url.username !== '' || url.password !== '') {
      throw new TypeError('the vSphere URL must not carry credentials; give them to login');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new TypeError(`the vSphere URL must be http(s), not ${url.protocol}`);
    }
    this.url = url;
    this.thumbprint = endpoint.thumbprint === undefined ? undefined : normalizeThumbprint(endpoint.thumbprint);
  }

  /** The SDK URL (no credentials, safe to show). */
  get displayUrl(): string {
    return this.url.href;
  }

  get hasSession(): boolean {
    return this.#sessionCookie !== undefined;
  }

  forgetSession(): void {
    this.#sessionCookie = undefined;
  }

  /**
   * Calls `method` on `thisRef` and returns the `<methodResponse>` element.
   * @throws VsphereFaultError (or a subclass) for a SOAP fault, VsphereUnavailableError when no SOAP answer came.
   */
  async invoke(method: string, thisRef: MoRef, body = ''): Promise<XmlNode> {
    const { status, text, setCookies } = await this.post(envelope(method, thisRef, body), method);
    for (const cookie of setCookies) {
      const pair = cookie.split(';')[0]?.trim();
      if (pair?.startsWith(`${SESSION_COOKIE}=`)) this.#sessionCookie = pair;
    }
    let root: XmlNode;
    try {
      root = XmlNode.parse(text);
    } catch (error) {
      throw new VsphereUnavailableError(`${method}: HTTP ${status} from ${this.displayUrl} is not a SOAP envelope`, {
        cause: error,
      });
    }
    const soapBody = root.child('Body');
    const fault = soapBody?.child('Fault');
    if (fault !== undefined) {
      const detail = fault.child('detail')?.elements()[0];
      throw faultToError(faultName(detail), `${method}: ${fault.childText('faultstring') ?? 'no fault string'}`);
    }
    const response = soapBody?.child(`${method}Response`);
    if (status !== 200 || response === undefined) {
      throw new VsphereUnavailableError(`${method}: HTTP ${status} from ${this.displayUrl} holds no ${method}Response`);
    }
    return response;
  }

  private post(payload: string, method: string): Promise<{ status: number; text: string; setCookies: string[] }> {
    const secure = this.url.protocol === 'https:';
    const headers: Record<string, string> = {
      'Content-Type': 'text/xml; charset=utf-8',
      SOAPAction: `urn:vim25/${this.apiVersion}`,
      'Content-Length': String(Buffer.byteLength(payload)),
    };
    if (this.#sessionCookie !== undefined) headers.Cookie = this.#sessionCookie;
    const pinned = secure ? this.thumbprint : undefined;
    const options = {
      method: 'POST',
      headers,
      timeout: this.endpoint.requestTimeoutMs ?? 60_000,
      ...(secure ? { ca: this.endpoint.ca, rejectUnauthorized: this.endpoint.insecure !== true } : {}),
      // A pinned certificate is checked here instead of by the chain; a fresh connection per request, so every
      // socket passes the check below (a pooled one would skip 'secureConnect').
      ...(pinned === undefined ? {} : { rejectUnauthorized: false, agent: false }),
    };
    return new Promise((resolve, reject) => {
      const onResponse = (response: IncomingMessage) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', (error) => reject(this.unavailable(method, error)));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            setCookies: response.headers['set-cookie'] ?? [],
          }),
        );
      };
      const req = secure ? httpsRequest(this.url, options, onResponse) : httpRequest(this.url, options, onResponse);
      req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeout} ms`)));
      req.on('error', (error) =>
        reject(error instanceof VsphereCertificateMismatchError ? error : this.unavailable(method, error)),
      );
      if (pinned === undefined) {
        req.end(payload);
        return;
      }
      // Nothing is written (headers with the session cookie, a body with the password) until the peer is the one pinned.
      req.on('socket', (socket) => {
        socket.once('secureConnect', () => {
          const actual = normalizeThumbprint((socket as TLSSocket).getPeerCertificate().fingerprint256 ?? '');
          if (actual === pinned) req.end(payload);
          else req.destroy(new VsphereCertificateMismatchError(this.displayUrl, pinned, actual));
        });
      });
    });
  }

  private unavailable(method: string, error: Error): VsphereUnavailableError {
    return new VsphereUnavailableError(`${method}: ${this.displayUrl} did not answer: ${error.message}`, {
      cause: error,
    });
  }
}

/** `AA:BB:…` upper case, from hex with or without colons. */
function normalizeThumbprint(value: string): string {
  const hex = value.replace(/:/g, '').toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) {
    throw new TypeError(
      "a vCenter thumbprint is the certificate's SHA-256 fingerprint: 64 hex digits, colons optional",
    );
  }
  return hex.replace(/(..)(?!$)/g, '$1:');
}
