import type { Data, DataType } from "@apache-arrow/esnext-esm";
import type { Arrow } from "./esm";
import type { ArrowKind } from "./arrowMapping";

/**
 * Column writers: each takes a value in PostgreSQL's binary send format, straight from a COPY row,
 * and writes it into Arrow's little-endian buffers, which become an Arrow `Data` without another
 * pass. Buffers are kept between batches (a batch is serialized before the next one is filled).
 */

/** Values that have no Arrow representation (±infinity dates and timestamps, NaN decimals) are sent as NULL and counted. */
export interface LossCounter {
  unrepresentable: number;
  /** multidimensional arrays, sent flattened */
  flattenedArrays: number;
}

const DAYS_1970_TO_2000 = 10957;
const MICROS_1970_TO_2000 = 946684800000000;
const TWO_32 = 4294967296;
const OFFSET_HI = Math.floor(MICROS_1970_TO_2000 / TWO_32);
const OFFSET_LO = MICROS_1970_TO_2000 % TWO_32;

/*
 * Big-endian reads without Buffer's per-call argument checks: RowDecoder has checked that the
 * field lies inside the row, and these run several times per value.
 */
function int16(buffer: Buffer, at: number): number {
  return (((buffer[at] << 8) | buffer[at + 1]) << 16) >> 16;
}

function uint16(buffer: Buffer, at: number): number {
  return (buffer[at] << 8) | buffer[at + 1];
}

function int32(buffer: Buffer, at: number): number {
  return (buffer[at] << 24) | (buffer[at + 1] << 16) | (buffer[at + 2] << 8) | buffer[at + 3];
}

function uint32(buffer: Buffer, at: number): number {
  return int32(buffer, at) >>> 0;
}

export abstract class ColumnWriter {
  length = 0;
  nullCount = 0;
  protected capacity: number;
  protected validity: Uint8Array;

  constructor(capacity: number, protected readonly losses: LossCounter) {
    // a multiple of 8, so that bitmaps are whole bytes
    this.capacity = Math.max(8, (capacity + 7) & ~7);
    this.validity = new Uint8Array(this.capacity >> 3).fill(0xff);
  }

  /** Appends one value: `buffer[start, start + length)`, or NULL when `length` is -1. */
  abstract append(buffer: Buffer, start: number, length: number): void;

  /** The Arrow data of the values appended since the last reset. */
  abstract data(arrow: Arrow, type: DataType): Data;

  reset(): void {
    this.validity.fill(0xff, 0, (this.length + 7) >> 3);
    this.length = 0;
    this.nullCount = 0;
  }

  /** Makes room for one more value; subclasses grow their value buffers in `grow`. */
  protected reserve(): void {
    if (this.length < this.capacity) return;
    this.capacity *= 2;
    const validity = new Uint8Array(this.capacity >> 3).fill(0xff);
    validity.set(this.validity);
    this.validity = validity;
    this.grow(this.capacity);
  }

  protected abstract grow(capacity: number): void;

  /**
   * The value at `length` is NULL. The validity bitmap starts all valid (bits past `length` are
   * ignored by Arrow), so a row costs a bitmap write only when it has a NULL.
   */
  protected markNull(): void {
    this.validity[this.length >> 3] &= ~(1 << (this.length & 7));
    this.nullCount++;
  }

  protected nullBitmap(): Uint8Array | undefined {
    return this.nullCount === 0 ? undefined : this.validity.subarray(0, (this.length + 7) >> 3);
  }
}

/** Fixed-width values: big-endian bytes copied reversed (ints, floats, time), or converted. */
abstract class FixedWidthWriter extends ColumnWriter {
  protected bytes: Uint8Array;
  protected view: DataView;

  constructor(capacity: number, losses: LossCounter, protected readonly width: number) {
    super(capacity, losses);
    this.bytes = new Uint8Array(this.capacity * width);
    this.view = new DataView(this.bytes.buffer);
  }

  protected grow(capacity: number): void {
    const bytes = new Uint8Array(capacity * this.width);
    bytes.set(this.bytes);
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer);
  }

  protected appendNull(): void {
    this.bytes.fill(0, this.length * this.width, (this.length + 1) * this.width);
    this.markNull();
    this.length++;
  }

  data(arrow: Arrow, type: DataType): Data {
    return arrow.makeData({
      type,
      length: this.length,
      nullCount: this.nullCount,
      nullBitmap: this.nullBitmap(),
      data: this.bytes.subarray(0, this.length * this.width),
    } as never);
  }
}

/** int2, int4, int8, oid, float4, float8, time: the same bits, other byte order. */
class ReversedBytesWriter extends FixedWidthWriter {
  append(buffer: Buffer, start: number, length: number): void {
    this.reserve();
    if (length < 0) return this.appendNull();
    const bytes = this.bytes;
    // unrolled per width: this runs for every value of most tables
    switch (this.width) {
      case 8: {
        const at = this.length << 3;
        bytes[at] = buffer[start + 7];
        bytes[at + 1] = buffer[start + 6];
        bytes[at + 2] = buffer[start + 5];
        bytes[at + 3] = buffer[start + 4];
        bytes[at + 4] = buffer[start + 3];
        bytes[at + 5] = buffer[start + 2];
        bytes[at + 6] = buffer[start + 1];
        bytes[at + 7] = buffer[start];
        break;
      }
      case 4: {
        const at = this.length << 2;
        bytes[at] = buffer[start + 3];
        bytes[at + 1] = buffer[start + 2];
        bytes[at + 2] = buffer[start + 1];
        bytes[at + 3] = buffer[start];
        break;
      }
      default: {
        const at = this.length << 1;
        bytes[at] = buffer[start + 1];
        bytes[at + 1] = buffer[start];
      }
    }
    this.length++;
  }
}

/** date: days since 2000-01-01 → days since 1970-01-01. */
class Date32Writer extends FixedWidthWriter {
  constructor(capacity: number, losses: LossCounter) {
    super(capacity, losses, 4);
  }

  append(buffer: Buffer, start: number, length: number): void {
    this.reserve();
    if (length < 0) return this.appendNull();
    const days = int32(buffer, start);
    if (days === 0x7fffffff || days === -0x80000000) {
      this.losses.unrepresentable++;
      return this.appendNull();
    }
    this.view.setInt32(this.length * 4, days + DAYS_1970_TO_2000, true);
    this.length++;
  }
}

/** timestamp, timestamptz: microseconds since 2000-01-01 → since 1970-01-01, in two 32-bit halves (no BigInt). */
class TimestampWriter extends FixedWidthWriter {
  constructor(capacity: number, losses: LossCounter) {
    super(capacity, losses, 8);
  }

  append(buffer: Buffer, start: number, length: number): void {
    this.reserve();
    if (length < 0) return this.appendNull();
    const hi = int32(buffer, start);
    const lo = uint32(buffer, start + 4);
    let sumLo = lo + OFFSET_LO;
    let carry = 0;
    if (sumLo >= TWO_32) {
      sumLo -= TWO_32;
      carry = 1;
    }
    const sumHi = hi + OFFSET_HI + carry;
    // infinity is INT64_MAX / INT64_MIN; the last microseconds of year 294276 overflow too
    if ((hi === 0x7fffffff && lo === 0xffffffff) || (hi === -0x80000000 && lo === 0) || sumHi > 0x7fffffff) {
      this.losses.unrepresentable++;
      return this.appendNull();
    }
    this.view.setUint32(this.length * 8, sumLo, true);
    this.view.setInt32(this.length * 8 + 4, sumHi, true);
    this.length++;
  }
}

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
const BIG_POW10 = Array.from({ length: 80 }, (_, i) => 10n ** BigInt(i));
const NUMERIC_NEG = 0x4000;
const NUMERIC_POS = 0x0000;

/**
 * numeric(p, s) → Decimal128 with the column's scale: the unscaled integer Σ digit·10000^(weight−i)·10^s
 * in 128-bit two's complement. Small values use doubles (exact below 2^53), others BigInt.
 */
class DecimalWriter extends FixedWidthWriter {
  constructor(capacity: number, losses: LossCounter, private readonly scale: number) {
    super(capacity, losses, 16);
  }

  append(buffer: Buffer, start: number, length: number): void {
    this.reserve();
    if (length < 0) return this.appendNull();
    const ndigits = int16(buffer, start);
    const weight = int16(buffer, start + 2);
    const sign = uint16(buffer, start + 4);
    if (sign !== NUMERIC_POS && sign !== NUMERIC_NEG) {
      this.losses.unrepresentable++; // NaN (infinity cannot be stored in numeric(p, s))
      return this.appendNull();
    }
    const at = this.length * 16;
    const view = this.view;
    const scale = this.scale;
    if (4 * weight + scale + 4 <= 15) {
      let value = 0;
      for (let i = 0; i < ndigits; i++) {
        const digit = int16(buffer, start + 8 + 2 * i);
        const exponent = 4 * (weight - i) + scale;
        value += exponent >= 0 ? digit * POW10[exponent] : Math.round(digit / POW10[-exponent]);
      }
      // most values fit in 32 bits: no floating-point modulo for them
      let hi = value < TWO_32 ? 0 : Math.floor(value / TWO_32);
      let lo = value - hi * TWO_32;
      let w2 = 0;
      let w3 = 0;
      if (sign === NUMERIC_NEG && value !== 0) {
        // two's complement of the 128-bit magnitude: invert, add one
        lo = ~lo >>> 0;
        hi = ~hi >>> 0;
        w2 = 0xffffffff;
        w3 = 0xffffffff;
        lo += 1;
        if (lo === TWO_32) {
          lo = 0;
          hi += 1;
          if (hi === TWO_32) {
            hi = 0;
            w2 = 0; // cannot happen for a nonzero magnitude below 2^53, kept for correctness
            w3 = 0;
          }
        }
      }
      view.setUint32(at, lo, true);
      view.setUint32(at + 4, hi, true);
      view.setUint32(at + 8, w2, true);
      view.setUint32(at + 12, w3, true);
    } else {
      let value = 0n;
      for (let i = 0; i < ndigits; i++) {
        const digit = BigInt(int16(buffer, start + 8 + 2 * i));
        const exponent = 4 * (weight - i) + scale;
        value += exponent >= 0 ? digit * BIG_POW10[exponent] : digit / BIG_POW10[-exponent];
      }
      if (sign === NUMERIC_NEG) value = -value;
      const bits = BigInt.asUintN(128, value);
      view.setBigUint64(at, BigInt.asUintN(64, bits), true);
      view.setBigUint64(at + 8, bits >> 64n, true);
    }
    this.length++;
  }
}

/** uuid: 16 bytes as they are (FixedSizeBinary(16) storage of CloudQuery's uuid type). */
class UuidWriter extends FixedWidthWriter {
  constructor(capacity: number, losses: LossCounter) {
    super(capacity, losses, 16);
  }

  append(buffer: Buffer, start: number, length: number): void {
    this.reserve();
    if (length < 0) return this.appendNull();
    const bytes = this.bytes;
    const at = this.length * 16;
    for (let i = 0; i < 16; i++) bytes[at + i] = buffer[start + i];
    this.length++;
  }
}

/** bool: one bit per value. */
class BoolWriter extends ColumnWriter {
  private bits: Uint8Array;

  constructor(capacity: number, losses: LossCounter) {
    super(capacity, losses);
    this.bits = new Uint8Array(this.capacity >> 3);
  }

  protected grow(capacity: number): void {
    const bits = new Uint8Array(capacity >> 3);
    bits.set(this.bits);
    this.bits = bits;
  }

  append(buffer: Buffer, start: number, length: number): void {
    this.reserve();
    if (length < 0) this.markNull();
    else if (buffer[start] !== 0) this.bits[this.length >> 3] |= 1 << (this.length & 7);
    this.length++;
  }

  reset(): void {
    this.bits.fill(0, 0, (this.length + 7) >> 3);
    super.reset();
  }

  data(arrow: Arrow, type: DataType): Data {
    return arrow.makeData({
      type,
      length: this.length,
      nullCount: this.nullCount,
      nullBitmap: this.nullBitmap(),
      data: this.bits.subarray(0, (this.length + 7) >> 3),
    } as never);
  }
}

/** text, bytea, json, jsonb: bytes appended to one buffer, with int32 offsets. */
class VariableWidthWriter extends ColumnWriter {
  private offsets: Int32Array;
  private values: Uint8Array;
  private valuesView: DataView;
  private end = 0;
  /** a view of the memory the last value came from (a COPY row's bytes share one socket read's memory) */
  private source?: ArrayBufferLike;
  private sourceView?: DataView;

  /** @param skip leading bytes to drop (jsonb's version byte) */
  constructor(capacity: number, losses: LossCounter, private readonly skip = 0) {
    super(capacity, losses);
    this.offsets = new Int32Array(this.capacity + 1);
    this.values = new Uint8Array(this.capacity * 16);
    this.valuesView = new DataView(this.values.buffer);
  }

  protected grow(capacity: number): void {
    const offsets = new Int32Array(capacity + 1);
    offsets.set(this.offsets);
    this.offsets = offsets;
  }

  append(buffer: Buffer, start: number, length: number): void {
    this.reserve();
    if (length < 0) {
      this.markNull();
    } else {
      const from = start + this.skip;
      const size = length - this.skip;
      const end = this.end + size;
      if (end > this.values.length) {
        const values = new Uint8Array(Math.max(end, this.values.length * 2));
        values.set(this.values.subarray(0, this.end));
        this.values = values;
        this.valuesView = new DataView(values.buffer);
      }
      this.copy(buffer, from, size);
      this.end = end;
    }
    this.length++;
    this.offsets[this.length] = this.end;
  }

  /**
   * Copies `size` bytes from `buffer[from]` to the end of the values. Most values are short:
   * Buffer#copy allocates a view per call, a byte loop costs a bounds check per byte, so they are
   * copied four bytes at a time through DataViews (one per socket read for the source).
   */
  private copy(buffer: Buffer, from: number, size: number): void {
    const values = this.values;
    const to = this.end;
    if (size > 512) {
      buffer.copy(values, to, from, from + size);
      return;
    }
    let i = 0;
    if (size >= 8) {
      if (buffer.buffer !== this.source) {
        this.source = buffer.buffer;
        this.sourceView = new DataView(buffer.buffer);
      }
      const source = this.sourceView as DataView;
      const target = this.valuesView;
      const base = buffer.byteOffset + from;
      for (; i + 4 <= size; i += 4) target.setInt32(to + i, source.getInt32(base + i));
    }
    for (; i < size; i++) values[to + i] = buffer[from + i];
  }

  reset(): void {
    super.reset();
    this.end = 0;
  }

  data(arrow: Arrow, type: DataType): Data {
    return arrow.makeData({
      type,
      length: this.length,
      nullCount: this.nullCount,
      nullBitmap: this.nullBitmap(),
      valueOffsets: this.offsets.subarray(0, this.length + 1),
      data: this.values.subarray(0, this.end),
    } as never);
  }
}

/** arrays: PostgreSQL's binary array (dimensions, then elements) → list offsets and a child column. */
class ListWriter extends ColumnWriter {
  private offsets: Int32Array;
  private end = 0;

  constructor(capacity: number, losses: LossCounter, private readonly child: ColumnWriter) {
    super(capacity, losses);
    this.offsets = new Int32Array(this.capacity + 1);
  }

  protected grow(capacity: number): void {
    const offsets = new Int32Array(capacity + 1);
    offsets.set(this.offsets);
    this.offsets = offsets;
  }

  append(buffer: Buffer, start: number, length: number): void {
    this.reserve();
    if (length < 0) {
      this.markNull();
    } else {
      const dimensions = buffer.readInt32BE(start);
      let count = dimensions === 0 ? 0 : 1;
      for (let d = 0; d < dimensions; d++) count *= buffer.readInt32BE(start + 12 + 8 * d);
      if (dimensions > 1) this.losses.flattenedArrays++;
      let at = start + 12 + 8 * dimensions;
      for (let i = 0; i < count; i++) {
        const size = buffer.readInt32BE(at);
        at += 4;
        this.child.append(buffer, at, size);
        if (size > 0) at += size;
      }
      this.end += count;
    }
    this.length++;
    this.offsets[this.length] = this.end;
  }

  reset(): void {
    super.reset();
    this.child.reset();
    this.end = 0;
  }

  data(arrow: Arrow, type: DataType): Data {
    const listType = type as DataType & { children: { type: DataType }[] };
    return arrow.makeData({
      type,
      length: this.length,
      nullCount: this.nullCount,
      nullBitmap: this.nullBitmap(),
      valueOffsets: this.offsets.subarray(0, this.length + 1),
      child: this.child.data(arrow, listType.children[0].type),
    } as never);
  }
}

export function columnWriter(kind: ArrowKind, capacity: number, losses: LossCounter): ColumnWriter {
  switch (kind.kind) {
    case "bool":
      return new BoolWriter(capacity, losses);
    case "int16":
      return new ReversedBytesWriter(capacity, losses, 2);
    case "int32":
    case "uint32":
    case "float32":
      return new ReversedBytesWriter(capacity, losses, 4);
    case "int64":
    case "float64":
    case "time64":
      return new ReversedBytesWriter(capacity, losses, 8);
    case "decimal":
      return new DecimalWriter(capacity, losses, kind.scale);
    case "date32":
      return new Date32Writer(capacity, losses);
    case "timestamp":
      return new TimestampWriter(capacity, losses);
    case "uuid":
      return new UuidWriter(capacity, losses);
    case "utf8":
    case "binary":
      return new VariableWidthWriter(capacity, losses);
    case "json":
      return new VariableWidthWriter(capacity, losses, kind.jsonb ? 1 : 0);
    case "list":
      return new ListWriter(capacity, losses, columnWriter(kind.element, capacity * 4, losses));
  }
}

/** Which writer a column has, as a small integer: the row decoder switches on it. */
const REVERSED = 0;
const DATE32 = 1;
const TIMESTAMP = 2;
const DECIMAL = 3;
const UUID = 4;
const BOOL = 5;
const VARIABLE = 6;
const LIST = 7;

function decodeCode(writer: ColumnWriter): number {
  if (writer instanceof ReversedBytesWriter) return REVERSED;
  if (writer instanceof Date32Writer) return DATE32;
  if (writer instanceof TimestampWriter) return TIMESTAMP;
  if (writer instanceof DecimalWriter) return DECIMAL;
  if (writer instanceof UuidWriter) return UUID;
  if (writer instanceof BoolWriter) return BOOL;
  if (writer instanceof VariableWidthWriter) return VARIABLE;
  return LIST;
}

/**
 * The fields of a COPY row appended to a table's column writers. One `writers[i].append` call
 * site would see every writer class (a megamorphic call V8 cannot inline); a switch on the
 * writer's kind gives each class its own call site, so each append is inlined into this loop.
 */
export class RowDecoder {
  private readonly codes: Uint8Array;

  constructor(readonly writers: ColumnWriter[]) {
    this.codes = Uint8Array.from(writers, decodeCode);
  }

  /**
   * Appends one value per writer from the fields that start at `at` (an int32 length, -1 for
   * NULL, then the value); returns where the fields after them start.
   */
  append(buffer: Buffer, at: number): number {
    const writers = this.writers;
    const codes = this.codes;
    for (let i = 0; i < codes.length; i++) {
      if (at + 4 > buffer.length) throw new Error("a COPY row ended before its last field");
      const length = int32(buffer, at);
      at += 4;
      if (at + length > buffer.length) throw new Error("a COPY field runs past the end of its row");
      // the casts follow `codes`, built from the same writers by decodeCode
      switch (codes[i]) {
        case REVERSED:
          (writers[i] as ReversedBytesWriter).append(buffer, at, length);
          break;
        case DATE32:
          (writers[i] as Date32Writer).append(buffer, at, length);
          break;
        case TIMESTAMP:
          (writers[i] as TimestampWriter).append(buffer, at, length);
          break;
        case DECIMAL:
          (writers[i] as DecimalWriter).append(buffer, at, length);
          break;
        case UUID:
          (writers[i] as UuidWriter).append(buffer, at, length);
          break;
        case BOOL:
          (writers[i] as BoolWriter).append(buffer, at, length);
          break;
        case VARIABLE:
          (writers[i] as VariableWidthWriter).append(buffer, at, length);
          break;
        default:
          (writers[i] as ListWriter).append(buffer, at, length);
      }
      if (length > 0) at += length;
    }
    return at;
  }
}
