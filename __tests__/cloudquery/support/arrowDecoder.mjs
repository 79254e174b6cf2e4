// Decodes Arrow IPC streams for the tests, in a worker thread: the Arrow library is ESM only, and
// jest's module sandbox cannot import ES modules (without --experimental-vm-modules). The worker runs
// plain Node, decodes with the SDK's own `tableFromIPC`, and sends back plain values:
// Int64 / timestamps / time64 as BigInt (raw units), decimals as exact strings, binary as "\x<hex>",
// json as its text, uuids as canonical text, dates as days since 1970, lists as arrays.
import { parentPort } from "node:worker_threads";
import { tableFromIPC, makeVector, Type } from "@cloudquery/plugin-sdk-javascript/arrow";

const hex = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");

function bigAt(values, i) {
  // 64-bit values: BigInt64Array, or pairs of 32-bit words
  if (values instanceof BigInt64Array || values instanceof BigUint64Array) return BigInt(values[i]);
  const lo = BigInt(values[2 * i] >>> 0);
  const hi = BigInt(values[2 * i + 1] | 0);
  return (hi << 32n) + lo;
}

function decimalAt(data, i) {
  const words = data.values;
  const at = (data.offset + i) * 4;
  let value = 0n;
  for (let w = 3; w >= 0; w--) value = (value << 32n) + BigInt(words[at + w] >>> 0);
  value = BigInt.asIntN(128, value);
  const scale = data.type.scale;
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(scale + 1, "0");
  const text = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return negative ? `-${text}` : text;
}

function valueAt(data, field, i) {
  const vector = makeVector(data);
  if (!vector.isValid(i)) return null;
  const extension = field?.metadata?.get("ARROW:extension:name");
  const type = data.type;
  switch (type.typeId) {
    case Type.Int:
      return type.bitWidth === 64 ? bigAt(data.values, data.offset + i) : vector.get(i);
    case Type.Timestamp:
    case Type.Time:
      return bigAt(data.values, data.offset + i);
    case Type.Date:
      return data.values[data.offset + i];
    case Type.Decimal:
      return decimalAt(data, i);
    case Type.Binary:
      return extension === "json" ? Buffer.from(vector.get(i)).toString("utf8") : `\\x${hex(vector.get(i))}`;
    case Type.FixedSizeBinary: {
      const h = hex(vector.get(i));
      return extension === "uuid" ? `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}` : `\\x${h}`;
    }
    case Type.List: {
      const offsets = data.valueOffsets;
      const child = data.children[0];
      const out = [];
      for (let j = offsets[data.offset + i]; j < offsets[data.offset + i + 1]; j++) out.push(valueAt(child, type.children[0], j));
      return out;
    }
    default:
      return vector.get(i);
  }
}

function describeField(field) {
  return {
    name: field.name,
    type: String(field.type),
    nullable: field.nullable,
    metadata: Object.fromEntries(field.metadata),
    children: (field.type.children ?? []).map(describeField),
  };
}

parentPort.on("message", ({ id, buffers }) => {
  try {
    const results = buffers.map((buffer) => {
      const table = tableFromIPC(buffer);
      const fields = table.schema.fields;
      const rows = [];
      for (const batch of table.batches) {
        for (let i = 0; i < batch.numRows; i++) {
          const row = {};
          fields.forEach((field, c) => (row[field.name] = valueAt(batch.data.children[c], field, i)));
          rows.push(row);
        }
      }
      return { metadata: Object.fromEntries(table.schema.metadata), fields: fields.map(describeField), batches: table.batches.length, rows };
    });
    parentPort.postMessage({ id, results });
  } catch (error) {
    parentPort.postMessage({ id, error: error.stack || String(error) });
  }
});
