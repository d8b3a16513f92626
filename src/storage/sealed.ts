import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { StorageError } from '../adapters/storage.ts';

/**
 * AES-256-GCM for credentials at rest. A sealed entry is a small JSON document, so a person can
 * see what it is without being able to read it:
 * `{"sealed":"A256GCM","v":1,"iv":"…","tag":"…","data":"…"}` (base64). The entry's name is the
 * additional authenticated data: a sealed refresh token copied over the device credential does
 * not decrypt.
 */
export interface SealedEnvelope {
  sealed: 'A256GCM';
  v: 1;
  iv: string;
  tag: string;
  data: string;
}

/**
 * Reads a 32-byte key given as base64 (44 characters) or hex (64 characters).
 *
 * @example
 * const key = parseStateKey(process.env.CLOUDTETHER_STATE_KEY!); // e.g. from `openssl rand -base64 32`
 */
export function parseStateKey(text: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) throw new TypeError('the state key must be 32 bytes, as base64 or hex (e.g. `openssl rand -base64 32`)');
  return key;
}

/** Encrypts `plaintext` for the entry `name`. */
export function seal(plaintext: string | Buffer, key: Buffer, name: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(name));
  const data = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const envelope: SealedEnvelope = {
    sealed: 'A256GCM',
    v: 1,
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    data: data.toString('base64'),
  };
  return JSON.stringify(envelope);
}

/** True when `content` is a sealed envelope (whatever the key). */
export function isSealed(content: Buffer | string): boolean {
  try {
    return (JSON.parse(content.toString()) as Partial<SealedEnvelope>)?.sealed === 'A256GCM';
  } catch {
    return false;
  }
}

/**
 * Decrypts a sealed entry.
 *
 * @throws {StorageError} naming `path` when the key is wrong, the entry was tampered with or
 * belongs to another name.
 */
export function unseal(content: Buffer | string, key: Buffer, name: string, path: string): Buffer {
  let envelope: SealedEnvelope;
  try {
    envelope = JSON.parse(content.toString()) as SealedEnvelope;
  } catch (error) {
    throw new StorageError(path, 'not a sealed entry', error);
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(envelope.iv, 'base64'));
    decipher.setAAD(Buffer.from(name));
    decipher.setAuthTag(Buffer.from(envelope.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(envelope.data, 'base64')), decipher.final()]);
  } catch (error) {
    throw new StorageError(path, 'cannot decrypt: wrong key, or the file was altered', error);
  }
}
