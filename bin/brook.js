#!/usr/bin/env node
// Runs the TypeScript sources through tsx, so `npx brook` needs no build step (development;
// `npm start` runs the bundle, as the single binary does: scripts/bundle.ts).
import { register } from "tsx/esm/api";

register();
const { main } = await import("../agent/cli/main.ts");
await main(process.argv);
