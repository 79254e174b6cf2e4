import { TemplateError, blockCommentEnd } from "./lexer";

/**
 * Which kind of statement a user's SQL is, read from its words at the top level (outside literals,
 * comments, quoted identifiers and parentheses). A query source runs queries only: `SELECT`,
 * `WITH ... SELECT`, `VALUES`, `TABLE`, or one of them in parentheses. Everything else is refused
 * before it reaches the server: `COPY ... TO PROGRAM` runs a shell command even in a read-only
 * transaction, and `SET`, `PREPARE`, `LISTEN` or `DECLARE` would leave state on a pooled session.
 * A `WITH` whose statements write (`INSERT`, `UPDATE`, `DELETE`, `MERGE`) is refused by name too
 * (the read-only transaction would refuse it with a vaguer message).
 *
 * Functions called by a query (lo_export, pg_read_file, dblink...) cannot be told apart by reading
 * SQL: only the role's privileges refuse those (the App's test warns about a role that has them).
 */

const QUERY_KEYWORDS = new Set(["SELECT", "VALUES", "TABLE"]);
const WRITING_KEYWORDS = new Set(["INSERT", "UPDATE", "DELETE", "MERGE"]);

type Item = { kind: "word"; text: string; depth: number } | { kind: "open" | "close" | "comma" | "other"; depth: number };

/** The statement's words and brackets, with their parenthesis depth; literals and comments skipped. */
function items(sql: string): Item[] {
  const out: Item[] = [];
  let depth = 0;
  let i = 0;
  const skipTo = (end: number) => (i = end < 0 ? sql.length : end);
  while (i < sql.length) {
    const c = sql[i];
    if (/\s/.test(c)) i++;
    else if (sql.startsWith("--", i)) skipTo(sql.indexOf("\n", i));
    else if (sql.startsWith("/*", i)) skipTo(blockCommentEnd(sql, i));
    else if (c === "'" || c === '"') {
      // E'...' strings: a backslash escapes; '' and "" are doubled quotes
      const escapes = c === "'" && i > 0 && /[Ee]/.test(sql[i - 1]);
      i++;
      while (i < sql.length) {
        if (escapes && sql[i] === "\\") i += 2;
        else if (sql[i] === c && sql[i + 1] === c) i += 2;
        else if (sql[i] === c) break;
        else i++;
      }
      i++;
      out.push({ kind: "other", depth });
    } else if (c === "$" && /[A-Za-z_$]/.test(sql[i + 1] ?? "") && !/[A-Za-z0-9_]/.test(sql[i - 1] ?? "")) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (tag) skipTo(sql.indexOf(tag[0], i + tag[0].length) + tag[0].length);
      else i++;
      out.push({ kind: "other", depth });
    } else if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      const start = i;
      while (i < sql.length && /[A-Za-z0-9_$\u0080-\uffff]/.test(sql[i])) i++;
      out.push({ kind: "word", text: sql.slice(start, i).toUpperCase(), depth });
    } else if (c === "(") {
      out.push({ kind: "open", depth });
      depth++;
      i++;
    } else if (c === ")") {
      depth--;
      out.push({ kind: "close", depth });
      i++;
    } else {
      out.push({ kind: c === "," ? "comma" : "other", depth });
      i++;
    }
  }
  return out;
}

function refuse(what: string): never {
  throw new TemplateError(`${what}; a query source runs one query only: SELECT, WITH ... SELECT, VALUES or TABLE`);
}

/** Checks that `sql` (one statement) is a query; throws a TemplateError that names what it is instead. */
export function assertQuery(sql: string): void {
  const all = items(sql);
  let at = 0;
  // leading parentheses: (SELECT ...) UNION (SELECT ...)
  while (all[at]?.kind === "open") at++;
  const first = all[at];
  if (!first || first.kind !== "word") refuse("the statement does not start with a keyword");
  if (QUERY_KEYWORDS.has(first.text)) return;
  if (first.text !== "WITH") refuse(`${first.text} is not a query`);
  checkWith(all, at + 1, first.depth);
}

/** `WITH [RECURSIVE] name [(columns)] AS [[NOT] MATERIALIZED] (body) [SEARCH ...] [CYCLE ...], ... main` */
function checkWith(all: Item[], from: number, depth: number): void {
  let at = from;
  const word = (i: number) => {
    const item = all[i];
    return item?.kind === "word" ? item.text : undefined;
  };
  const closing = (open: number) => {
    let i = open + 1;
    while (i < all.length && !(all[i].kind === "close" && all[i].depth === depth)) i++;
    return i;
  };
  if (word(at) === "RECURSIVE") at++;
  for (;;) {
    // the name and its column list, up to AS
    while (at < all.length && word(at) !== "AS") at = all[at].kind === "open" ? closing(at) + 1 : at + 1;
    at++;
    if (word(at) === "NOT") at++;
    if (word(at) === "MATERIALIZED") at++;
    if (all[at]?.kind !== "open") refuse("its WITH clause cannot be read");
    let bodyFirst = at + 1;
    while (all[bodyFirst]?.kind === "open") bodyFirst++;
    const body = word(bodyFirst);
    if (body && WRITING_KEYWORDS.has(body)) refuse(`its WITH clause holds a data-modifying ${body}`);
    if (!body || !(QUERY_KEYWORDS.has(body) || body === "WITH")) refuse(`its WITH clause holds a ${body ?? "statement"} that is not a query`);
    at = closing(at) + 1;
    // SEARCH / CYCLE clauses run to the next CTE (",") or the main statement
    while (at < all.length) {
      const item = all[at];
      if (item.kind === "comma" && item.depth === depth) break;
      if (item.kind === "open" && item.depth === depth) break;
      if (item.kind === "word" && item.depth === depth && (QUERY_KEYWORDS.has(item.text) || WRITING_KEYWORDS.has(item.text))) break;
      at++;
    }
    if (all[at]?.kind === "comma") {
      at++;
      continue;
    }
    let mainAt = at;
    while (all[mainAt]?.kind === "open") mainAt++;
    const main = word(mainAt);
    if (main && QUERY_KEYWORDS.has(main)) return;
    if (main && WRITING_KEYWORDS.has(main)) refuse(`WITH ... ${main} modifies data`);
    refuse("its WITH clause is not followed by a SELECT");
  }
}
