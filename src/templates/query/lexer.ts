/**
 * A small SQL lexer that knows where mustache tags stand: in code, inside a string literal, in a
 * comment or inside a quoted identifier. It knows what a binding needs and nothing more: string
 * literals ('...' with '' escapes, E'...' with backslash escapes, $$...$$ and $tag$...$tag$),
 * double-quoted identifiers, -- and nested /* *\/ comments, and semicolons between statements.
 *
 * The lexer never decides what a value may do: values are never part of the SQL text. A lexing
 * mistake on exotic syntax can only make a template fail or bind differently, never paste a value.
 */

/** A user's template that cannot become a parameterized statement; the message says why and where. */
export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TemplateError";
  }
}

/** Text copied as it is. `trivia` marks whitespace, comments and semicolons (dropped at the end). */
export interface TextToken {
  type: "text";
  text: string;
  start: number;
  trivia: boolean;
  semicolon?: boolean;
}

/** A mustache variable standing where a value can go (outside literals). */
export interface VariableToken {
  type: "variable";
  name: string;
  start: number;
  end: number;
}

export type LiteralPart = { type: "text"; text: string; start: number } | VariableToken;

/** A string literal holding at least one variable; literals without one are plain text. */
export interface LiteralToken {
  type: "literal";
  /** the opening and closing delimiters as written: `'`, `E'`, `$tag$`... */
  open: string;
  close: string;
  parts: LiteralPart[];
  start: number;
  end: number;
}

export type Token = TextToken | VariableToken | LiteralToken;

const IDENTIFIER_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_QUOTE = /\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y;
const POSITIONAL = /\$\d+/y;
const STRING_PREFIX = /[EeBbXxNn]/;

/** "line 3, column 14" of an offset in a text. */
export function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, Math.max(0, offset));
  const line = before.split("\n").length;
  const column = offset - (before.lastIndexOf("\n") + 1) + 1;
  return `line ${line}, column ${column}`;
}

interface Tag {
  /** undefined for a mustache comment `{{! ... }}`, which renders as nothing */
  name?: string;
  end: number;
}

/**
 * Reads the mustache tag at `start` (which begins with `{{`). Only variables are supported:
 * `{{ x }}`, `{{{ x }}}`, `{{& x }}`, dotted names, and comments. No HTML escaping ever applies.
 */
function readTag(src: string, start: number): Tag {
  const triple = src.startsWith("{{{", start);
  const closer = triple ? "}}}" : "}}";
  const close = src.indexOf(closer, start + closer.length);
  if (close < 0) throw new TemplateError(`an unclosed mustache tag "${src.slice(start, start + 20)}..." at ${lineAndColumn(src, start)}`);
  const end = close + closer.length;
  const raw = src.slice(start, end);
  let content = src.slice(start + closer.length, close).trim();
  if (!triple) {
    const sigil = content[0];
    if (sigil === "!") return { end };
    if (sigil === "#" || sigil === "^" || sigil === "/" || sigil === ">") {
      throw new TemplateError(
        `${raw} at ${lineAndColumn(src, start)}: mustache sections, inverted sections and partials ({{#x}}, {{^x}}, {{/x}}, {{>x}}) are not supported in queries, only variables such as {{ email }}`
      );
    }
    if (sigil === "=") throw new TemplateError(`${raw} at ${lineAndColumn(src, start)}: changing the mustache delimiters is not supported in queries`);
    if (sigil === "&") content = content.slice(1).trim();
  }
  if (content === "" || content === "." || /[{}\n]/.test(content)) {
    throw new TemplateError(`${raw} at ${lineAndColumn(src, start)} is not a variable name`);
  }
  return { name: content, end };
}

/** Where a quoted run (literal or identifier) closes, and the tags inside it. */
interface Quoted {
  end: number;
  parts: LiteralPart[];
}

/**
 * Scans the body of a literal from `from` until `close`. `escapes` = backslash escapes (E'' strings);
 * `doubled` = the closing quote doubled is an escape ('' and "").
 */
function readQuoted(src: string, from: number, close: string, what: string, escapes: boolean, doubled: boolean, openedAt: number): Quoted {
  const parts: LiteralPart[] = [];
  let textStart = from;
  let i = from;
  const flushText = (upTo: number) => {
    if (upTo > textStart) parts.push({ type: "text", text: src.slice(textStart, upTo), start: textStart });
  };
  for (;;) {
    if (i >= src.length) throw new TemplateError(`an unterminated ${what} starts at ${lineAndColumn(src, openedAt)}`);
    if (escapes && src[i] === "\\") {
      if (src.startsWith("{{", i + 1)) {
        throw new TemplateError(`a backslash right before the tag at ${lineAndColumn(src, i + 1)} in an E'' string: remove it (the value is bound as it is)`);
      }
      i += 2;
      continue;
    }
    if (src.startsWith(close, i)) {
      if (doubled && src.startsWith(close, i + close.length)) {
        i += close.length * 2;
        continue;
      }
      flushText(i);
      return { end: i + close.length, parts };
    }
    if (src.startsWith("{{", i)) {
      const tag = readTag(src, i);
      flushText(i);
      if (tag.name !== undefined) parts.push({ type: "variable", name: tag.name, start: i, end: tag.end });
      i = tag.end;
      textStart = i;
      continue;
    }
    i++;
  }
}

/** Just past the end of the block comment that starts at `start` (they nest in SQL), or -1 when it is not closed. */
export function blockCommentEnd(text: string, start: number): number {
  let depth = 0;
  let i = start;
  do {
    if (text.startsWith("/*", i)) {
      depth++;
      i += 2;
    } else if (text.startsWith("*/", i)) {
      depth--;
      i += 2;
    } else i++;
  } while (depth > 0 && i < text.length);
  return depth === 0 ? i : -1;
}

/** Splits a query template into text, variables and literals that hold variables. */
export function lexTemplate(src: string): Token[] {
  const tokens: Token[] = [];
  let code = -1; // start of a pending run of code text
  const flushCode = (upTo: number) => {
    if (code >= 0 && upTo > code) tokens.push({ type: "text", text: src.slice(code, upTo), start: code, trivia: false });
    code = -1;
  };
  const pushText = (start: number, end: number, trivia: boolean, semicolon = false) => {
    flushCode(start);
    tokens.push({ type: "text", text: src.slice(start, end), start, trivia, ...(semicolon ? { semicolon } : {}) });
  };
  const literal = (start: number, open: string, close: string, what: string, escapes: boolean, doubled: boolean): number => {
    const quoted = readQuoted(src, start + open.length, close, what, escapes, doubled, start);
    if (quoted.parts.some((p) => p.type === "variable")) {
      flushCode(start);
      tokens.push({ type: "literal", open, close, parts: quoted.parts, start, end: quoted.end });
    } else {
      // a literal without variables is code like any other (a tag comment inside it is removed)
      const hadTagComment = src.slice(start, quoted.end).includes("{{");
      if (hadTagComment) {
        flushCode(start);
        const body = quoted.parts.map((p) => (p.type === "text" ? p.text : "")).join("");
        tokens.push({ type: "text", text: open + body + close, start, trivia: false });
      } else if (code < 0) code = start;
    }
    return quoted.end;
  };

  let i = 0;
  while (i < src.length) {
    const c = src[i];
    const next = src[i + 1];
    const prevIsIdentifier = i > 0 && IDENTIFIER_CHAR.test(src[i - 1]);

    if (c === "{" && next === "{") {
      const tag = readTag(src, i);
      flushCode(i);
      if (tag.name !== undefined) tokens.push({ type: "variable", name: tag.name, start: i, end: tag.end });
      i = tag.end;
      continue;
    }
    if (c === "-" && next === "-") {
      const newline = src.indexOf("\n", i);
      const end = newline < 0 ? src.length : newline;
      pushText(i, end, true);
      i = end;
      continue;
    }
    if (c === "/" && next === "*") {
      const j = blockCommentEnd(src, i);
      if (j < 0) throw new TemplateError(`an unterminated /* comment starts at ${lineAndColumn(src, i)}`);
      pushText(i, j, true);
      i = j;
      continue;
    }
    if (/\s/.test(c)) {
      let j = i;
      while (j < src.length && /\s/.test(src[j])) j++;
      pushText(i, j, true);
      i = j;
      continue;
    }
    if (c === ";") {
      pushText(i, i + 1, true, true);
      i++;
      continue;
    }
    if (c === "'") {
      i = literal(i, "'", "'", "string literal", false, true);
      continue;
    }
    if (STRING_PREFIX.test(c) && next === "'" && !prevIsIdentifier) {
      i = literal(i, src.slice(i, i + 2), "'", "string literal", c === "E" || c === "e", true);
      continue;
    }
    if ((c === "U" || c === "u") && next === "&" && (src[i + 2] === "'" || src[i + 2] === '"') && !prevIsIdentifier) {
      if (src[i + 2] === "'") {
        i = literal(i, src.slice(i, i + 3), "'", "string literal", false, true);
        continue;
      }
      if (code < 0) code = i;
      i = identifier(src, i, 3);
      continue;
    }
    if (c === '"') {
      if (code < 0) code = i;
      i = identifier(src, i, 1);
      continue;
    }
    if (c === "$" && !prevIsIdentifier) {
      DOLLAR_QUOTE.lastIndex = i;
      const dollar = DOLLAR_QUOTE.exec(src);
      if (dollar) {
        i = literal(i, dollar[0], dollar[0], `dollar-quoted string ${dollar[0]}`, false, false);
        continue;
      }
      POSITIONAL.lastIndex = i;
      const positional = POSITIONAL.exec(src);
      if (positional) {
        throw new TemplateError(`${positional[0]} at ${lineAndColumn(src, i)}: positional parameters cannot be written in the query; use a mustache variable such as {{ email }}, which is bound as a parameter`);
      }
    }
    if (code < 0) code = i;
    i++;
  }
  flushCode(src.length);
  return tokens;
}

/** Reads a double-quoted identifier; a mustache tag inside one is an error: identifiers cannot be bound. */
function identifier(src: string, start: number, openLength: number): number {
  const quoted = readQuoted(src, start + openLength, '"', "quoted identifier", false, true, start);
  const text = src.slice(start, quoted.end);
  if (text.includes("{{")) {
    throw new TemplateError(
      `a mustache variable inside the quoted identifier ${text} at ${lineAndColumn(src, start)}: table and column names cannot be bound as parameters, only values can`
    );
  }
  return quoted.end;
}
