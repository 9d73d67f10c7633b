/**
 * Brook's version: fixed at build time in the single binary (which has no package.json
 * beside it), read from package.json in a checkout.
 */
import { readFileSync } from "node:fs";

declare const __BROOK_VERSION__: string | undefined;

export const VERSION: string =
  typeof __BROOK_VERSION__ === "string"
    ? __BROOK_VERSION__
    : (
        JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
          version: string;
        }
      ).version;
