import { types } from 'node:util';

/** A value's tag: what follows it. */
const NULL = 0;
const FALSE = 1;
const TRUE = 2;
const UNDEFINED = 3;
/** A number as a 64-bit float: one that is no int32, or `-0`. */
const NUMBER = 4;
const STRING = 5;
const ARRAY = 6;
const OBJECT = 7;
/**
 * An integer in a byte (-128..127) or in four (any other int32): a device's data is mostly small
 * counts, and a float's eight bytes each made it up to 4.5 times its JSON size.
 */
const INT8 = 8;
const INT32 = 9;
/** The end of an object's keys: a key is a string, whose first byte is a string's kind, never this. */
const END = 0xff;
/** A string's kind: one byte a code unit (all below 256), or two. */
const NARROW = 0;
const WIDE = 1;
/** Strings shorter than this are written a unit at a time: a native write's call costs more than their copy. */
const SHORT = 64;
/** A code unit that takes two bytes (any at or above 0x100; no `u` flag: a surrogate is one unit). */
const WIDE_UNIT = /[\u0100-\uffff]/;
/** A float's bytes, in this machine's order: written and read back by the same process. */
const FLOAT = new Float64Array(1);
const FLOAT_BYTES = new Uint8Array(FLOAT.buffer);
/** Objects met kept in a list up to this many, then in a set. */
const MET_IN_LIST = 16;
/**
 * Deeper than this, a value is not taken: the walk is recursive, and a cycle has no bottom. The
 * protocol's MAX_JSON_DEPTH (src/protocol/envelope.ts), which util cannot import: at 64, data a
 * frame may hold (65 to 128 deep) made every record kept as its object.
 */
const MAX_DEPTH = 128;
/** A new writer's buffer, and the one it starts over with after a record grew it past {@link MAX_KEPT_BYTES}. */
const FIRST_BYTES = 1_024;
/** Past this, the buffer is let go of at the next {@link ByteWriter.reset}: one huge record does not hold its size for the hub's life. */
const MAX_KEPT_BYTES = 256 * 1024;

/**
 * Writes fields and values as bytes that {@link ByteReader} reads back: numbers as they are
 * (a {@link value}'s int32s in one byte or four, any other as a 64-bit float: `-0`, `NaN` and
 * all), strings as their code units (any string, a lone surrogate too), and {@link value}s of
 * plain data so that what is read back is what `structuredClone` of the value would have been.
 * For records kept off the JS heap (src/hub/delivery/finished-form.ts,
 * src/hub/usage/booked-reports.ts): JSON text made them check every value (JSON and a clone
 * differ) and then serialise it, times as decimals, in two walks; this is one, in JS, with no
 * string made (bench/round-trip).
 *
 * Bytes are written at {@link at} in {@link bytes}, which grows (a new buffer) when short.
 *
 * @example
 * const writer = new ByteWriter();
 * writer.reset();
 * writer.f64(Date.now());
 * if (writer.value({ result: { text: 'hi' } })) arena.appendBytes(writer.bytes, writer.at);
 */
export class ByteWriter {
  /** Where the bytes are written: its first {@link at} are this record's. */
  bytes = Buffer.allocUnsafe(FIRST_BYTES);
  /** Bytes written since {@link reset}. */
  at = 0;
  /**
   * Objects met by the {@link value}s since {@link reset}: a structured clone keeps an object met
   * twice as one, and these values are read back apart. A few in a list, more in a set too: a
   * list's search would make a value of many objects cost the square of their number. The list
   * is emptied by hand: `length = 0` let go of its storage, and every record made it again (bench/round-trip).
   */
  readonly #met: Array<object | undefined> = new Array<object | undefined>(MET_IN_LIST).fill(undefined);
  #metCount = 0;
  #metSet: Set<object> | undefined;

  /**
   * Starts over at the first byte, in a small buffer again if the last record grew it past
   * {@link MAX_KEPT_BYTES}, and forgets the objects met.
   */
  reset(): void {
    this.at = 0;
    if (this.bytes.length > MAX_KEPT_BYTES) this.bytes = Buffer.allocUnsafe(FIRST_BYTES);
    this.forgetMet();
  }

  /**
   * Forgets the objects met, keeping the bytes: once a record is written or declined, its data is
   * not held here until the next (the bytes may still be copied out).
   */
  forgetMet(): void {
    for (let i = 0; i < this.#metCount; i++) this.#met[i] = undefined;
    this.#metCount = 0;
    this.#metSet = undefined;
  }

  /** Writes a byte (0..255). */
  u8(n: number): void {
    this.#room(1);
    this.bytes[this.at++] = n;
  }

  // The numbers byte by byte, little-endian: Buffer's methods check their range on every call, and
  // these are the writer's own (lengths, counts, numbers it gave), a record's dozens (bench/round-trip).

  /** Writes an unsigned 16-bit integer. */
  u16(n: number): void {
    this.#room(2);
    const bytes = this.bytes;
    const at = this.at;
    bytes[at] = n;
    bytes[at + 1] = n >>> 8;
    this.at = at + 2;
  }

  /** Writes an unsigned 32-bit integer. */
  u32(n: number): void {
    this.#room(4);
    this.#word(n);
  }

  /** Writes a signed 32-bit integer. */
  i32(n: number): void {
    this.#room(4);
    this.#word(n);
  }

  /** Writes any number as a 64-bit float, exactly. */
  f64(n: number): void {
    this.#room(8);
    FLOAT[0] = n;
    const bytes = this.bytes;
    const at = this.at;
    for (let i = 0; i < 8; i++) bytes[at + i] = FLOAT_BYTES[i]!;
    this.at = at + 8;
  }

  #word(n: number): void {
    const bytes = this.bytes;
    const at = this.at;
    bytes[at] = n;
    bytes[at + 1] = n >>> 8;
    bytes[at + 2] = n >>> 16;
    bytes[at + 3] = n >>> 24;
    this.at = at + 4;
  }

  /** Writes `text`, exactly (its UTF-16 code units, one byte each when they all fit in one). */
  string(text: string): void {
    const length = text.length;
    this.#room(5 + 2 * length);
    const bytes = this.bytes;
    const start = this.at;
    bytes[start] = NARROW;
    this.at = start + 1;
    this.#word(length);
    let at = this.at;
    if (length < SHORT) {
      let i = 0;
      for (; i < length; i++) {
        const unit = text.charCodeAt(i);
        if (unit > 0xff) break;
        bytes[at++] = unit;
      }
      if (i < length) {
        bytes[start] = WIDE;
        at = start + 5;
        for (i = 0; i < length; i++) {
          const unit = text.charCodeAt(i);
          bytes[at++] = unit & 0xff;
          bytes[at++] = unit >>> 8;
        }
      }
    } else if (!WIDE_UNIT.test(text)) at += bytes.write(text, at, 'latin1');
    else {
      bytes[start] = WIDE;
      at += bytes.write(text, at, 'utf16le');
    }
    this.at = at;
  }

  /**
   * Writes `value` when reading it back gives what `structuredClone(value)` would: strings,
   * numbers, booleans, null and undefined; plain objects (their own enumerable string keys, as a
   * clone takes them) and arrays (no holes, no other keys) of them; no object met twice (in it or
   * in another value since {@link reset}: they are read back apart, as a clone of them together
   * would not be), no proxy, nested at most {@link MAX_DEPTH} deep. False for anything else (a
   * `Date`, a `Map`, a class's object, a bigint, a function): what was written is then to be
   * thrown away.
   */
  value(value: unknown): boolean {
    return this.#value(value, 0);
  }

  #value(value: unknown, depth: number): boolean {
    switch (typeof value) {
      case 'string':
        this.u8(STRING);
        this.string(value);
        return true;
      case 'number':
        this.#number(value);
        return true;
      case 'boolean':
        this.u8(value ? TRUE : FALSE);
        return true;
      case 'undefined':
        this.u8(UNDEFINED);
        return true;
      case 'object':
        break;
      default:
        return false;
    }
    if (value === null) {
      this.u8(NULL);
      return true;
    }
    // A proxy first: a clone refuses it, and asking anything else of it would run its traps.
    if (depth >= MAX_DEPTH || types.isProxy(value) || !this.#meet(value)) return false;
    if (Array.isArray(value)) {
      if (Object.getPrototypeOf(value) !== Array.prototype || Object.keys(value).length !== value.length) return false;
      this.u8(ARRAY);
      this.u32(value.length);
      for (let i = 0; i < value.length; i++) if (!(i in value) || !this.#value(value[i], depth + 1)) return false;
      return true;
    }
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return false;
    this.u8(OBJECT);
    // Symbol keys and non-enumerable ones are left out by a clone too; a getter is read by both.
    for (const key in value) {
      this.string(key);
      if (!this.#value((value as Record<string, unknown>)[key], depth + 1)) return false;
    }
    this.u8(END);
    return true;
  }

  /** Writes `n` as a tag and its bytes: the fewest that give it back exactly. */
  #number(n: number): void {
    // `-0 | 0` is 0, which `===` takes for -0: a clone keeps the sign, so -0 is a float.
    if ((n | 0) !== n || Object.is(n, -0)) {
      this.u8(NUMBER);
      this.f64(n);
    } else if (n >= -128 && n <= 127) {
      this.#room(2);
      this.bytes[this.at++] = INT8;
      this.bytes[this.at++] = n & 0xff;
    } else {
      this.#room(5);
      this.bytes[this.at++] = INT32;
      this.#word(n);
    }
  }

  /** Notes `object` as met; false when it was met already. */
  #meet(object: object): boolean {
    if (this.#metSet !== undefined) {
      if (this.#metSet.has(object)) return false;
      this.#metSet.add(object);
      return true;
    }
    const met = this.#met;
    const count = this.#metCount;
    for (let i = 0; i < count; i++) if (met[i] === object) return false;
    if (count < MET_IN_LIST) {
      met[count] = object;
      this.#metCount = count + 1;
    } else this.#metSet = new Set([...(met as object[]), object]);
    return true;
  }

  #room(more: number): void {
    if (this.at + more <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.bytes.length, this.at + more));
    this.bytes.copy(grown, 0, 0, this.at);
    this.bytes = grown;
  }
}

/**
 * Reads what a {@link ByteWriter} wrote, in the order it was written, from {@link at}.
 *
 * @example
 * const reader = new ByteReader(bytes);
 * const at = reader.f64();
 * const data = reader.value(); // as structuredClone of what was written
 */
export class ByteReader {
  /** Where the next field is read in {@link bytes}. */
  at = 0;

  constructor(readonly bytes: Buffer) {}

  /** Reads a byte ({@link ByteWriter.u8}). */
  u8(): number {
    return this.bytes[this.at++]!;
  }

  /** Reads an unsigned 16-bit integer ({@link ByteWriter.u16}). */
  u16(): number {
    const n = this.bytes.readUInt16LE(this.at);
    this.at += 2;
    return n;
  }

  /** Reads an unsigned 32-bit integer ({@link ByteWriter.u32}). */
  u32(): number {
    const n = this.bytes.readUInt32LE(this.at);
    this.at += 4;
    return n;
  }

  /** Reads a signed 32-bit integer ({@link ByteWriter.i32}). */
  i32(): number {
    const n = this.bytes.readInt32LE(this.at);
    this.at += 4;
    return n;
  }

  /** Reads a 64-bit float ({@link ByteWriter.f64}). */
  f64(): number {
    const bytes = this.bytes;
    for (let i = 0; i < 8; i++) FLOAT_BYTES[i] = bytes[this.at + i]!;
    this.at += 8;
    return FLOAT[0]!;
  }

  /** Reads a string ({@link ByteWriter.string}), exactly as written. */
  string(): string {
    const kind = this.u8();
    const length = this.u32();
    const start = this.at;
    this.at += kind === WIDE ? 2 * length : length;
    return this.bytes.toString(kind === WIDE ? 'utf16le' : 'latin1', start, this.at);
  }

  /** A value {@link ByteWriter.value} wrote: a fresh one, as `structuredClone` would have made it. */
  value(): unknown {
    switch (this.u8()) {
      case NULL:
        return null;
      case FALSE:
        return false;
      case TRUE:
        return true;
      case UNDEFINED:
        return undefined;
      case NUMBER:
        return this.f64();
      case INT8:
        // The byte's sign: shifted to the top of an int32 and back.
        return (this.bytes[this.at++]! << 24) >> 24;
      case INT32:
        return this.i32();
      case STRING:
        return this.string();
      case ARRAY: {
        const length = this.u32();
        const array: unknown[] = [];
        for (let i = 0; i < length; i++) array.push(this.value());
        return array;
      }
      default: {
        const object: Record<string, unknown> = {};
        while (this.bytes[this.at] !== END) {
          const key = this.string();
          // `__proto__` as a key of its own, as a clone (or JSON.parse) makes it, not the prototype's setter.
          if (key === '__proto__')
            Object.defineProperty(object, key, { value: this.value(), writable: true, enumerable: true, configurable: true });
          else object[key] = this.value();
        }
        this.at++;
        return object;
      }
    }
  }
}
