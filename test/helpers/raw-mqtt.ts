/** A raw MQTT 3.1.1 client for tests and benchmarks that must write exact bytes: nothing paces what it writes. */
import { deepStrictEqual } from "node:assert/strict";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { generate } from "mqtt-packet";

/** Connected on 127.0.0.1:`port` with a clean session, its CONNACK (accepted) read; `stops` gets its end. */
export async function rawMqttClient(
  port: number,
  clientId: string,
  stops?: (() => Promise<unknown>)[],
): Promise<Socket> {
  const socket = connect(port, "127.0.0.1");
  stops?.push(async () => socket.destroy());
  await once(socket, "connect");
  socket.write(
    generate({
      cmd: "connect",
      protocolId: "MQTT",
      protocolVersion: 4,
      clean: true,
      keepalive: 60,
      clientId,
    }),
  );
  const [connack] = (await once(socket, "data")) as [Buffer];
  deepStrictEqual([...connack], [0x20, 2, 0, 0], "CONNACK, accepted");
  return socket;
}
