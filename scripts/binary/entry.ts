/** The single binary's entry point (scripts/build-binary.ts bundles from here). */
import { main } from "../../agent/cli/main.js";

void main(process.argv);
