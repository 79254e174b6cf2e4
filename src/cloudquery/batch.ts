import type { Schema } from "@apache-arrow/esnext-esm";
import type { BinaryCopySink, CopyFlow } from "../postgres";
import { ColumnWriter, columnWriter, LossCounter, RowDecoder } from "./columns";
import type { Arrow } from "./esm";
import type { SourceTable } from "./tableSelection";

/**
 * Rows of one table, straight from binary COPY into Arrow columns, and out as one Arrow IPC
 * stream per batch (schema + record batch: what a CloudQuery `insert` message carries).
 *
 * A COPY row holds the table's columns, then `positionColumns` more fields: the text of the keyset
 * columns, kept for the last row only (where the next page starts).
 */
/** An Arrow IPC stream in parts (schema message, record batch message, end of stream): `length` bytes in all. */
export interface IpcStream {
  parts: Uint8Array[];
  length: number;
}

const END_OF_STREAM = new Uint8Array(new Int32Array([-1, 0]).buffer);

/**
 * Arrow's stream writer, kept for a table: the schema message is encoded once (CloudQuery wants
 * it in every insert, so its bytes are reused), each batch adds only its own message, and the
 * parts are handed over as they are (the Sync message is assembled with a single copy).
 */
class IpcEncoder {
  private readonly schemaBytes: Uint8Array;
  private readonly writer: InstanceType<Arrow["RecordBatchStreamWriter"]>;
  private parts: Uint8Array[] = [];

  constructor(arrow: Arrow, schema: Schema) {
    // the writer's sink: the parts of each message are collected instead of queued
    const sink = new arrow.AsyncByteQueue();
    sink.write = (part) => {
      this.parts.push(part as Uint8Array);
    };
    this.writer = new arrow.RecordBatchStreamWriter();
    this.writer.reset(sink, schema);
    this.schemaBytes = join(this.parts);
  }

  encode(batch: InstanceType<Arrow["RecordBatch"]>): IpcStream {
    this.parts = [];
    this.writer.write(batch);
    const parts = [this.schemaBytes, ...this.parts, END_OF_STREAM];
    return { parts, length: parts.reduce((sum, part) => sum + part.byteLength, 0) };
  }
}

function join(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

export interface BatchLimits {
  rows: number;
  bytes: number;
}

export class BatchBuilder implements BinaryCopySink {
  rows = 0;
  /** bytes of the rows appended since the last batch (their size on the wire) */
  bytes = 0;
  readonly losses: LossCounter = { unrepresentable: 0, flattenedArrays: 0 };
  /** the COPY in progress, to pause while the client is not reading */
  flow?: CopyFlow;
  private readonly writers: ColumnWriter[];
  private readonly decoder: RowDecoder;
  private readonly encoder: IpcEncoder;
  private readonly fieldCount: number;
  private position = Buffer.alloc(256);
  private hasPosition = false;
  private discarding = false;
  /** the writers hold the last batch flushed, whose record still points into their buffers */
  private writersFlushed = false;

  /**
   * @param onFull called (synchronously, inside the COPY) when the rows reach a limit: it flushes.
   */
  constructor(
    private readonly arrow: Arrow,
    private readonly schema: Schema,
    table: SourceTable,
    private readonly limits: BatchLimits,
    private readonly positionColumns: number,
    private readonly onFull: () => void
  ) {
    this.writers = table.columns.map(({ mapping }) => columnWriter(mapping.arrow, Math.min(limits.rows, 65536), this.losses));
    this.decoder = new RowDecoder(this.writers);
    this.encoder = new IpcEncoder(arrow, schema);
    this.fieldCount = this.writers.length + positionColumns;
  }

  start(flow: CopyFlow): void {
    this.flow = flow;
    this.discarding = false;
  }

  /** Drops the rest of the statement's rows (the sync was cancelled): the COPY runs to its end unread. */
  discard(): void {
    this.discarding = true;
    this.flow?.resume();
  }

  row(buffer: Buffer, offset: number): void {
    if (this.discarding) return;
    if (this.writersFlushed) this.resetWriters();
    const fields = buffer.readInt16BE(offset);
    if (fields !== this.fieldCount) throw new Error(`a COPY row has ${fields} fields, ${this.fieldCount} were expected`);
    const at = this.decoder.append(buffer, offset + 2);
    if (this.positionColumns > 0) {
      // the driver reuses its buffers: the position is copied now, read when the page ends
      const length = buffer.length - at;
      if (length > this.position.length) this.position = Buffer.alloc(length * 2);
      const position = this.position;
      // a key is a few bytes: a loop is cheaper than a native copy per row
      if (length <= 64) for (let i = 0; i < length; i++) position[i] = buffer[at + i];
      else buffer.copy(position, 0, at, buffer.length);
      this.hasPosition = true;
    }
    this.rows++;
    this.bytes += buffer.length - offset;
    if (this.rows >= this.limits.rows || this.bytes >= this.limits.bytes) this.onFull();
  }

  /** The keyset position of the last row appended (the text of each position field), if any. */
  lastPosition(): string[] | undefined {
    if (!this.hasPosition) return undefined;
    const out: string[] = [];
    let at = 0;
    for (let i = 0; i < this.positionColumns; i++) {
      const length = this.position.readInt32BE(at);
      at += 4;
      if (length < 0) throw new Error("a keyset column was NULL in a row read by key");
      out.push(this.position.toString("utf8", at, at + length));
      at += length;
    }
    return out;
  }

  /**
   * The rows appended so far as one Arrow IPC stream (in parts, to be joined once); the builder is
   * then empty. The parts point into the column buffers (Arrow's writer copies nothing), so the
   * caller copies them before the next row is appended: the buffers are reset only then.
   */
  flush(): IpcStream {
    const arrow = this.arrow;
    if (this.writersFlushed) this.resetWriters();
    const children = this.writers.map((writer, i) => writer.data(arrow, this.schema.fields[i].type));
    const struct = arrow.makeData({ type: new arrow.Struct(this.schema.fields), length: this.rows, nullCount: 0, children });
    const stream = this.encoder.encode(new arrow.RecordBatch(this.schema, struct));
    this.writersFlushed = true;
    this.rows = 0;
    this.bytes = 0;
    return stream;
  }

  /** Drops the rows appended since the last flush (a page read again after a broken connection). */
  clear(): void {
    this.resetWriters();
    this.rows = 0;
    this.bytes = 0;
  }

  private resetWriters(): void {
    for (const writer of this.writers) writer.reset();
    this.writersFlushed = false;
  }
}
