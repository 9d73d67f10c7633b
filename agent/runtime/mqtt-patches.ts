/**
 * Brook's one patch to mqtt.js' internals (CONVENTIONS.md 14), for the external edge
 * broker's client. mqtt.js sends a QoS 1 message's PUBACK once its `handleMessage`
 * callback is called, and reads the client's next packet only after that
 * (mqttjs/MQTT.js#691, #209: no manual acknowledgement): holding the callback until a
 * message is on disk would take one message per commit. Here the PUBACK itself waits for
 * its message's `release`, and the next packet is read at once; PUBACKs leave in the order
 * their messages came (MQTT 3.1.1 §4.6), since the reading log releases in that order.
 * A client whose layout this does not recognise (another mqtt.js) is left alone, acknowledging
 * as it always did, and the test of this patch (edge-client.test.ts) fails.
 */
import type { MqttClient } from "mqtt";

type Send = (packet: { cmd: string; messageId?: number }, cb?: (err?: Error) => void) => void;

/** PUBACKs the client holds until their messages are released. */
export interface HeldPubacks {
  /** A release for the message with this packet id: its PUBACK goes once both it is sent and this is called. */
  hold(messageId: number): () => void;
  /** Whether the patch is in place (false: PUBACKs go as mqtt.js sends them). */
  readonly active: boolean;
}

export function holdPubacks(client: MqttClient): HeldPubacks {
  const c = client as unknown as { _sendPacket?: Send };
  const send = c._sendPacket;
  if (typeof send !== "function") return { hold: () => () => undefined, active: false };
  /** per packet id: released already, or the PUBACK waiting for its release */
  const waiting = new Map<number, { released: boolean; puback?: () => void }>();
  c._sendPacket = function (this: unknown, packet, cb) {
    const entry = packet.cmd === "puback" ? waiting.get(packet.messageId ?? -1) : undefined;
    if (entry === undefined || entry.released) {
      if (entry !== undefined) waiting.delete(packet.messageId as number);
      send.call(this, packet, cb);
      return;
    }
    // The client goes on reading; the PUBACK goes when its message is released.
    entry.puback = () => send.call(this, packet);
    cb?.();
  } as Send;
  return {
    active: true,
    hold(messageId) {
      const entry: { released: boolean; puback?: () => void } = { released: false };
      waiting.set(messageId, entry);
      return () => {
        entry.released = true;
        if (entry.puback !== undefined && waiting.get(messageId) === entry) {
          waiting.delete(messageId);
          entry.puback();
        }
      };
    },
  };
}
