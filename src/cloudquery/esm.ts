import type * as ArrowModule from "@apache-arrow/esnext-esm";

/** The Arrow library, as the CloudQuery SDK ships it (ESM only). */
export type Arrow = typeof ArrowModule;

/**
 * A real `import()`. This package compiles to CommonJS, where TypeScript would turn `import()` into
 * `require()`, which cannot load the SDK's ES modules on every Node 20; a function built at run time
 * keeps the native dynamic import. Only the CloudQuery host calls it, so the Grouparoo side never
 * loads these packages.
 */
const nativeImport = new Function("specifier", "return import(specifier)") as (specifier: string) => Promise<unknown>;

let arrow: Promise<Arrow> | undefined;

export function loadArrow(): Promise<Arrow> {
  if (!arrow) {
    arrow = nativeImport("@cloudquery/plugin-sdk-javascript/arrow").then(
      (module) => module as Arrow,
      (error: Error) => {
        arrow = undefined;
        throw new Error(`the CloudQuery SDK could not be loaded (install the optional dependency @cloudquery/plugin-sdk-javascript): ${error.message}`);
      }
    );
  }
  return arrow;
}
