/**
 * The CLI bundled by esbuild into one CommonJS file: for the single binary
 * (scripts/build-binary.ts) and, as `npm run bundle`, for `npm start` from a checkout, so
 * that trying Brook from a checkout runs the code the device runs, not TypeScript compiled at
 * load (measured: 61 MB idle and 170 ms to ready, against 122 MB and 745 ms through tsx;
 * docs/BENCHMARKS.md, footprint). The checkout's bundle leaves better-sqlite3 to
 * node_modules, where npm built its addon.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
/** Where `npm run bundle` writes the checkout's bundle. */
export const CHECKOUT_BUNDLE = join(root, "dist", "checkout", "brook.cjs");

export interface BundleOptions {
  outfile: string;
  target: string;
  /** constants fixed in the code (`__BROOK_*__`) besides the version */
  define?: Record<string, string>;
  /** packages left to `require` at run time */
  external?: string[];
}

export async function bundleCli(options: BundleOptions): Promise<string> {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  const absent = join(root, "scripts/binary/absent.cjs");
  const result = await build({
    entryPoints: [join(root, "scripts/binary/entry.ts")],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: options.target,
    outfile: options.outfile,
    external: options.external,
    logLevel: "warning",
    // Whitespace and syntax minified, names kept (stack traces stay readable); ASCII only, so
    // V8 holds the source as a one-byte string (one non-ASCII character in a comment doubles
    // it); no legal comments.
    minifyWhitespace: true,
    minifySyntax: true,
    charset: "ascii",
    legalComments: "none",
    define: {
      __BROOK_VERSION__: JSON.stringify(pkg.version),
      ...options.define,
      "import.meta.url": "__brook_import_meta_url",
    },
    banner: {
      js: 'const __brook_import_meta_url = require("node:url").pathToFileURL(__filename).href;',
    },
    // Optional speed-ups and colours that SEA's require cannot load: their users fall back
    // when requiring them throws, as the stub does.
    alias: {
      bufferutil: absent,
      "utf-8-validate": absent,
      "supports-color": absent,
      ...(options.external?.includes("better-sqlite3") ? {} : { bindings: absent }),
    },
  });
  if (result.errors.length > 0) throw new Error("esbuild failed");
  return options.outfile;
}

/** `brook` as the checkout's bundle runs it on this Node (bundled now, from the code as it is). */
export async function checkoutCommand(): Promise<[string, string[]]> {
  await bundleCli({ outfile: CHECKOUT_BUNDLE, target: "node20", external: ["better-sqlite3"] });
  return [process.execPath, [CHECKOUT_BUNDLE]];
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await bundleCli({ outfile: CHECKOUT_BUNDLE, target: "node20", external: ["better-sqlite3"] });
}
