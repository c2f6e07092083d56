/**
 * Base64 of bytes, both ways (the standard library's encoding module is on
 * JSR, which this package does not depend on).
 *
 * @module
 */

/**
 * Encodes bytes as base64.
 *
 * @param bytes The bytes.
 * @returns Their base64 text.
 *
 * @example Round trip
 * ```ts
 * import { decodeBase64, encodeBase64 } from "./_base64.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(encodeBase64(new Uint8Array([1, 2, 3])), "AQID");
 * assert.deepEqual(decodeBase64("AQID"), new Uint8Array([1, 2, 3]));
 * ```
 */
export function encodeBase64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

/**
 * Decodes base64 text into bytes.
 *
 * @param text Base64 text.
 * @returns The bytes, in a buffer of their own.
 */
export function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}
