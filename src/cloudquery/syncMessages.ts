import type { ServerWritableStream } from "@grpc/grpc-js";
import { pluginV3 } from "@cloudquery/plugin-pb-javascript";
import type { IpcStream } from "./batch";

/** The Sync stream's wire format: the response type, inserts encoded by hand, the serializer. */

const v3 = pluginV3.cloudquery.plugin.v3;
/** A Sync response: a protobuf message, or the bytes of one already encoded (see `encodeInsert`). */
export type SyncResponse = InstanceType<typeof v3.Sync.Response> | Buffer;
export type SyncCall = ServerWritableStream<InstanceType<typeof v3.Sync.Request>, SyncResponse>;

function varintLength(value: number): number {
  let length = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    length++;
  }
  return length;
}

function writeVarint(buffer: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    buffer[at++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  buffer[at++] = value;
  return at;
}

/**
 * `Sync.Response{insert: MessageInsert{record}}` encoded by hand (field 2, then field 1, both
 * length-delimited), with the record's parts copied once into the message: the generated classes
 * would copy a batch of megabytes two more times.
 */
export function encodeInsert(record: IpcStream): Buffer {
  const inner = 1 + varintLength(record.length) + record.length;
  const buffer = Buffer.allocUnsafe(1 + varintLength(inner) + inner);
  let at = 0;
  buffer[at++] = (2 << 3) | 2;
  at = writeVarint(buffer, at, inner);
  buffer[at++] = (1 << 3) | 2;
  at = writeVarint(buffer, at, record.length);
  for (const part of record.parts) {
    buffer.set(part, at);
    at += part.byteLength;
  }
  return buffer;
}

/** Sync's serializer: encoded messages pass as they are. */
export function serializeSyncResponse(response: SyncResponse): Buffer {
  return Buffer.isBuffer(response) ? response : Buffer.from(response.serialize());
}
