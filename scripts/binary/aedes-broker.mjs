// The pass-through baseline of `npm run bench:e2e`: aedes alone as a TCP broker in a bare
// Node process, routing what it is sent to its subscribers. Prints "ready <port>".
import { createServer } from "node:net";
import { Aedes } from "aedes";

const aedes = await Aedes.createBroker();
const server = createServer(aedes.handle);
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`ready ${server.address().port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
