import {
  MissingVariableError,
  TemplateError,
  bindParameters,
  compileTemplate,
  expandDate,
  parameterize,
  recordData,
} from "../src/templates/query";
import { fakeRecord } from "./support/fakeHost";

// a neutral dialect, so that what the builder emits is visible: placeholders and concatenations
const dialect = {
  placeholder: (n: number) => `$${n}`,
  concat: (parts: string[]) => `CONCAT(${parts.join(", ")})`,
};

const data = { email: "ann@example.com", name: "O'Brien", userId: 42, active: true };
const run = (template: string, values: Record<string, unknown> = data) => parameterize(template, values, dialect);

describe("variables become bound parameters", () => {
  test("a tag outside literals is a placeholder; {{x}}, {{{x}}} and {{& x}} bind the raw value (no HTML escaping)", () => {
    expect(run("SELECT * FROM users WHERE id = {{ userId }} AND email = {{{email}}} AND name = {{& name }}")).toEqual({
      sql: "SELECT * FROM users WHERE id = $1 AND email = $2 AND name = $3",
      params: ["42", "ann@example.com", "O'Brien"],
    });
    expect(run("SELECT {{ v }}", { v: `<a href="x">&</a>` }).params).toEqual([`<a href="x">&</a>`]);
  });

  test("a literal that is exactly one tag is the value itself", () => {
    for (const literal of ["'{{{email}}}'", "'{{ email }}'", "'{{email}}'", "E'{{ email }}'", "$$ {{email}} $$".replace(/ /g, ""), "$q${{ email }}$q$", "U&'{{ email }}'", "N'{{ email }}'"]) {
      expect(run(`SELECT 1 WHERE email = ${literal}`)).toEqual({ sql: "SELECT 1 WHERE email = $1", params: ["ann@example.com"] });
    }
  });

  test("a literal mixing text and tags is a concatenation of the literal's parts, delimiters kept", () => {
    expect(run("SELECT 1 WHERE name LIKE '%{{ name }}%'")).toEqual({ sql: "SELECT 1 WHERE name LIKE CONCAT('%', $1, '%')", params: ["O'Brien"] });
    expect(run("SELECT 'it''s {{ name }}, ''{{ email }}'''").sql).toBe("SELECT CONCAT('it''s ', $1, ', ''', $2, '''')");
    expect(run("SELECT $$a'b {{ name }} c$$").sql).toBe("SELECT CONCAT($$a'b $$, $1, $$ c$$)");
    expect(run("SELECT $tag$ {{ name }}$$ $tag$").sql).toBe("SELECT CONCAT($tag$ $tag$, $1, $tag$$$ $tag$)");
  });

  test("E'' strings: backslash escapes are kept and do not end the literal", () => {
    expect(run("SELECT E'\\n{{ name }}\\''").sql).toBe("SELECT CONCAT(E'\\n', $1, E'\\'')");
    expect(run("SELECT E'\\'{{ name }}' AS x").sql).toBe("SELECT CONCAT(E'\\'', $1) AS x");
    // in a standard string a backslash is just a character
    expect(run("SELECT '\\' || {{ name }}").sql).toBe("SELECT '\\' || $1");
    expect(() => run("SELECT E'\\{{ name }}'")).toThrow(/backslash right before the tag/);
  });

  test("each occurrence has its own placeholder, so each takes the type of its context", () => {
    expect(run("SELECT {{ userId }}::int, '{{ userId }}'::text, {{ userId }}")).toEqual({ sql: "SELECT $1::int, $2::text, $3", params: ["42", "42", "42"] });
  });

  test("a value never appears in the SQL", () => {
    const hostile = "x'; DROP TABLE users; --";
    const { sql, params } = run("SELECT '{{ v }}', {{ v }}, 'a{{ v }}b'", { v: hostile });
    expect(sql).not.toContain("DROP");
    expect(params).toEqual([hostile, hostile, hostile]);
  });

  test("values that look like mustache are data, never rendered again", () => {
    expect(run("SELECT {{ v }}", { v: "{{ email }}", email: "secret" }).params).toEqual(["{{ email }}"]);
  });
});

describe("what the lexer leaves alone", () => {
  test("tags in -- and /* */ comments (nested) stay as written", () => {
    const template = "SELECT 1 -- {{ nope }}\n/* {{ no }} /* nested {{ no }} */ still comment {{ no }} */ WHERE x = {{ email }}";
    expect(run(template)).toEqual({ sql: template.replace("{{ email }}", "$1"), params: ["ann@example.com"] });
  });

  test("-- and /* inside a string literal are text, and a quote inside a comment opens nothing", () => {
    expect(run("SELECT '-- {{ name }} /*' -- it's a comment\n, {{ email }}").sql).toBe("SELECT CONCAT('-- ', $1, ' /*') -- it's a comment\n, $2");
  });

  test("quoted identifiers are code; a double quote inside a string is text", () => {
    expect(run(`SELECT "it's ""x""" FROM t WHERE a = '"{{ name }}"'`).sql).toBe(`SELECT "it's ""x""" FROM t WHERE a = CONCAT('"', $1, '"')`);
  });

  test("a mustache comment {{! ... }} renders as nothing", () => {
    expect(run("SELECT 1{{! why }} AS x, 'a{{! c }}b'").sql).toBe("SELECT 1 AS x, 'ab'");
  });

  test("identifiers containing $ are not dollar quotes, and $$ inside a string is text", () => {
    expect(run("SELECT a$b$ FROM t WHERE x = 'cost: $$ {{ name }}'").sql).toBe("SELECT a$b$ FROM t WHERE x = CONCAT('cost: $$ ', $1)");
  });

  test("trailing semicolons and comments are dropped; a second statement is refused", () => {
    expect(run("SELECT 1 AS x; -- done\n ;  /* end */ \n").sql).toBe("SELECT 1 AS x");
    expect(run("SELECT ';' AS x, 'a;b' AS y").sql).toBe("SELECT ';' AS x, 'a;b' AS y");
    expect(() => run("SELECT 1; DROP TABLE users")).toThrow(/one statement, but a ";" at line 1, column 9 is followed by more SQL/);
    expect(() => run("  -- only a comment\n;")).toThrow(/the query is empty/);
  });
});

describe("what cannot be bound is a clear error", () => {
  test("a tag inside a quoted identifier", () => {
    expect(() => run(`SELECT "{{ column }}" FROM users`)).toThrow(TemplateError);
    expect(() => run(`SELECT "{{ column }}" FROM users`)).toThrow(/inside the quoted identifier "\{\{ column \}\}" at line 1, column 8: table and column names cannot be bound/);
    expect(() => run(`SELECT U&"x{{ column }}" FROM users`)).toThrow(/quoted identifier/);
  });

  test.each(["{{#admin}}x{{/admin}}", "{{/admin}}", "{{^admin}}x{{/admin}}", "{{> partial}}", "'{{#admin}}'"])("a section or partial: %s", (tag) => {
    expect(() => run(`SELECT 1 WHERE ${tag}`)).toThrow(/sections, inverted sections and partials .* are not supported/);
  });

  test("set delimiters, empty tags, unclosed tags and unterminated literals", () => {
    expect(() => run("SELECT {{=<% %>=}}")).toThrow(/delimiters/);
    expect(() => run("SELECT {{ }}")).toThrow(/is not a variable name/);
    expect(() => run("SELECT {{ email")).toThrow(/unclosed mustache tag/);
    expect(() => run("SELECT 'abc {{ email }}")).toThrow(/unterminated string literal starts at line 1, column 8/);
    expect(() => run("SELECT $x$ abc")).toThrow(/unterminated dollar-quoted string \$x\$/);
    expect(() => run("SELECT /* abc")).toThrow(/unterminated \/\* comment/);
  });

  test("positional parameters written by the user", () => {
    expect(() => run("SELECT * FROM users WHERE id = $1")).toThrow(/\$1 at line 1, column 32: positional parameters cannot be written/);
  });
});

describe("record data, as the core's getRecordData shapes it", () => {
  const createdAt = new Date("2024-01-02T03:04:05.678Z");
  const record = fakeRecord(
    "rec_1",
    { email: ["ann@example.com"], signedUpAt: [new Date("2023-12-31T23:59:58.000Z")], tags: ["a", "b", 0, false, null], empty: [], nothing: [null] },
    { createdAt }
  );

  test("expanded dates and dotted names", async () => {
    expect(expandDate(createdAt)).toEqual({ raw: createdAt, iso: "2024-01-02T03:04:05.678Z", sql: "2024-01-02 03:04:05", date: "2024-01-02", time: "03:04:05" });
    const values = await recordData(record, new Date("2024-06-07T08:09:10.000Z"));
    const { params } = parameterize(
      "SELECT {{ now.sql }}, {{ createdAt.date }}, {{ createdAt.time }}, {{ updatedAt.iso }}, {{ signedUpAt.date }}, {{ createdAt }}, {{ signedUpAt }}",
      values,
      dialect
    );
    expect(params).toEqual(["2024-06-07 08:09:10", "2024-01-02", "03:04:05", "2024-02-03T04:05:06.789Z", "2023-12-31", "2024-01-02T03:04:05.678Z", "2023-12-31T23:59:58.000Z"]);
  });

  test("several values are joined with ', ' (0 and false kept); no values is an empty string; a null value is missing", async () => {
    const values = await recordData(record);
    expect(parameterize("SELECT {{ tags }}, '{{ empty }}'", values, dialect).params).toEqual(["a, b, 0, false, ", ""]);
    expect(() => parameterize("SELECT {{ nothing }}", values, dialect)).toThrow(MissingVariableError);
  });

  test("a missing variable is a typed error that names every missing variable", async () => {
    const values = await recordData(record);
    const compiled = compileTemplate("SELECT {{ email }}, {{ phone }}, {{ createdAt.nope }}, {{ phone }}, {{ nope.deeper }}", dialect);
    let error: unknown;
    try {
      bindParameters(compiled, values);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MissingVariableError);
    expect((error as MissingVariableError).variables).toEqual(["phone", "createdAt.nope", "nope.deeper"]);
    expect((error as Error).message).toBe("the query uses {{ phone }}, {{ createdAt.nope }}, {{ nope.deeper }}, which have no value here");
  });

  test("an object that is not a date is not a value", () => {
    expect(() => parameterize("SELECT {{ x }}", { x: { a: 1 } }, dialect)).toThrow(/\{\{ x \}\} is not a single value/);
  });
});

test("an offset in the SQL maps back to the template, through placeholders and concatenations", () => {
  const template = "SELECT '%{{ name }}%' AS a,\n  {{ email }} AS b, nope";
  const compiled = compileTemplate(template, dialect);
  expect(compiled.sql).toBe("SELECT CONCAT('%', $1, '%') AS a,\n  $2 AS b, nope");
  expect(compiled.templateOffset(compiled.sql.indexOf("nope"))).toBe(template.indexOf("nope"));
  expect(compiled.templateOffset(compiled.sql.indexOf("$2"))).toBe(template.indexOf("{{ email }}"));
  expect(compiled.templateOffset(0)).toBe(0);
});
