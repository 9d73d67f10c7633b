// The loaded baseline of `npm run bench:binary`: aedes alone, as a broker in a bare Node
// process, taking the same readings through an in-process subscription (as the agent's
// embedded broker does) and doing nothing with them but count. Prints "ready <port>".
import { createServer } from "node:net";
import { Aedes } from "aedes";

const aedes = await Aedes.createBroker();
let taken = 0;
aedes.subscribe(
  "sensors/#",
  (_packet, done) => {
    taken++;
    done();
  },
  () => {
    const server = createServer(aedes.handle);
    server.listen(0, "127.0.0.1", () => {
      process.stdout.write(`ready ${server.address().port}\n`);
    });
  },
);
process.on("SIGUSR2", () => process.stdout.write(`taken ${taken}\n`));
process.on("SIGTERM", () => process.exit(0));
