/**
 * `COPY (SELECT ...) TO STDOUT (FORMAT binary)` read row by row as the server sends it: no result
 * set is built, no value is parsed by the driver. A row arrives as one CopyData message (the
 * protocol guarantees it for COPY TO): an int16 field count, then per field an int32 length (-1 for
 * NULL) and the value in the type's binary send format.
 *
 * A node-postgres "submittable": the client hands it the protocol messages of its statement.
 */

const SIGNATURE = Buffer.from("PGCOPY\n\xff\r\n\0", "latin1");
const HEADER_LENGTH = SIGNATURE.length + 8; // flags int32, header extension length int32

/** Lets the consumer stop the flow of rows for a while (back-pressure): the socket is paused. */
export interface CopyFlow {
  pause(): void;
  resume(): void;
}

export interface BinaryCopySink {
  /** called once when the statement starts, with the handle to pause the flow */
  start?(flow: CopyFlow): void;
  /**
   * One row: `buffer[offset]` is its int16 field count. The bytes are only valid during the call
   * (the driver reuses its buffers): copy what must outlive it.
   */
  row(buffer: Buffer, offset: number): void;
}

interface ProtocolConnection {
  query(text: string): void;
  stream: { pause(): void; resume(): void };
}

export class BinaryCopyOut {
  /** rows received */
  rows = 0;
  private headerSeen = false;
  private done = false;
  private failure?: Error;
  private connection?: ProtocolConnection;
  private paused = false;

  constructor(readonly text: string, private readonly sink: BinaryCopySink, public callback: (error: Error | null, rows?: number) => void) {}

  submit(connection: ProtocolConnection): void {
    this.connection = connection;
    this.sink.start?.({
      pause: () => {
        if (!this.paused && !this.done) {
          this.paused = true;
          connection.stream.pause();
        }
      },
      resume: () => {
        if (this.paused) {
          this.paused = false;
          connection.stream.resume();
        }
      },
    });
    connection.query(this.text);
  }

  handleCopyData(message: { chunk: Buffer }): void {
    if (this.failure) return;
    const chunk = message.chunk;
    let offset = 0;
    if (!this.headerSeen) {
      if (chunk.length < HEADER_LENGTH || !chunk.subarray(0, SIGNATURE.length).equals(SIGNATURE)) {
        this.failure = new Error("COPY did not send the binary format's header (was FORMAT binary given?)");
        return;
      }
      this.headerSeen = true;
      offset = HEADER_LENGTH + chunk.readInt32BE(SIGNATURE.length + 4);
      if (offset >= chunk.length) return;
    }
    if (chunk.length - offset === 2 && chunk.readInt16BE(offset) === -1) return; // the trailer
    this.rows++;
    try {
      this.sink.row(chunk, offset);
    } catch (error) {
      // the rest of the statement is read and dropped; the error is reported when it ends
      this.failure = error as Error;
    }
  }

  handleCommandComplete(): void {}

  handleReadyForQuery(): void {
    this.finish(this.failure ?? null);
  }

  handleError(error: Error): void {
    this.finish(error);
  }

  handleEmptyQuery(): void {}

  handleRowDescription(): void {
    this.failure = new Error("a COPY TO statement was expected, the statement returned rows instead");
  }

  handleDataRow(): void {}

  handleCopyInResponse(): void {
    this.failure = new Error("a COPY TO statement was expected, got COPY FROM");
  }

  private finish(error: Error | null): void {
    if (this.done) return;
    this.done = true;
    if (this.paused) {
      this.paused = false;
      this.connection?.stream.resume();
    }
    this.callback(error, this.rows);
  }
}
