import { Readable } from 'node:stream';
import { RequestRejectedError } from '../../errors.js';
import { wholeBody } from './direct-http-handler.js';

/** The streaming body of an SDK response, as the SDK types it: a Node stream with helpers mixed in. */
interface SdkStreamingBody {
  transformToByteArray(): Promise<Uint8Array>;
}

/**
 * Reads a response body whose length the response declared into one buffer of that size. The SDK's own collector
 * keeps every chunk and then concatenates them into a fresh, zero-filled array — a second copy of every byte and
 * twice the garbage, which on a block-sized body costs more than the hash that checks it.
 * `into` — a buffer, or a function giving one for the declared length — receives the body instead of a new buffer
 * when it is exactly the declared size. A body homebound's transport read whole is taken as it is: the transport
 * already read it into `into` where it could (the same `bodyInto`).
 * @throws RequestRejectedError when more bytes arrive than declared; a short body comes back short, for the
 *   caller's length check to name.
 */
export async function readDeclaredBody(
  body: SdkStreamingBody,
  declaredLength: number | undefined,
  into?: Buffer | ((length: number) => Buffer),
): Promise<Buffer> {
  const whole = wholeBody(body);
  if (whole) {
    if (declaredLength !== undefined && whole.length > declaredLength) {
      throw new RequestRejectedError(`response body is longer than its declared ${declaredLength} bytes`);
    }
    // A buffer the transport could not fill (a chunked body) still gets the bytes: the caller may rely on them there.
    if (!Buffer.isBuffer(into) || whole === into || into.length !== whole.length) return whole;
    whole.copy(into);
    return into;
  }
  if (!(body instanceof Readable) || declaredLength === undefined || !Number.isSafeInteger(declaredLength)) {
    const bytes = await body.transformToByteArray();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  const stream = body;
  const given = typeof into === 'function' ? into(declaredLength) : into;
  return new Promise<Buffer>((resolve, reject) => {
    const out = given?.length === declaredLength ? given : Buffer.allocUnsafe(declaredLength);
    let filled = 0;
    stream.on('data', (chunk: Buffer) => {
      if (filled + chunk.length > declaredLength) {
        stream.destroy(new RequestRejectedError(`response body is longer than its declared ${declaredLength} bytes`));
        return;
      }
      chunk.copy(out, filled);
      filled += chunk.length;
    });
    stream.once('end', () => resolve(filled === declaredLength ? out : out.subarray(0, filled)));
    stream.once('error', reject);
  });
}
