// The pass-through baseline of `npm run bench:e2e`: aedes alone as a TCP broker in a bare
// Node process, routing what it is sent to its subscribers. Prints "ready <port>". Nagle's
// algorithm off, as on Brook's embedded broker: with it on, a PUBACK written while a
// publisher's last segment is unacknowledged waits for that publisher's delayed ACK, and
// against publishers that write a turn's messages at once aedes then held about 21,000 QoS 1
// messages/s, using a quarter of a core.
import { createServer } from "node:net";
import { Aedes } from "aedes";

const aedes = await Aedes.createBroker();
const server = createServer({ noDelay: true }, aedes.handle);
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`ready ${server.address().port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
