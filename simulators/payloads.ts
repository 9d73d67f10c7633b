/**
 * Payloads in every format Brook ingests (docs/RULES.md "Sources"), each written so that
 * the format's default sensor id is `<device>/<sensor>`: json and number on a topic
 * `…/<device>/<sensor>` (read with `sensor: "{1}/{2}"`, the agent's default without
 * sources), senml with the name `<device>/<sensor>`, influx as measurement `<device>` and
 * field `<sensor>`. Also the broken payloads a fault injects.
 */
import type { PayloadFormat } from "./scenario-schema.js";

export interface Channel {
  readonly device: string;
  readonly sensor: string;
  readonly topic: string;
  /** the sensor id Brook gives these readings by default: `<device>/<sensor>` */
  readonly key: string;
  /** published values are rounded to this many decimals; undefined: as they are */
  readonly decimals: number | undefined;
  /** SenML unit, "" for none */
  readonly senmlUnit: string;
}

export function formatValue(value: number, decimals: number | undefined): string {
  if (decimals === undefined) return String(value);
  const f = 10 ** decimals;
  const r = Math.round(value * f) / f;
  return String(r === 0 ? 0 : r);
}

export function encode(
  format: PayloadFormat,
  channel: Channel,
  ts: number,
  value: number,
  padBytes = 0,
): string {
  const v = formatValue(value, channel.decimals);
  const pad = padBytes > 0 ? "x".repeat(padBytes) : "";
  switch (format) {
    case "json":
      return pad === "" ? `{"ts":${ts},"value":${v}}` : `{"ts":${ts},"value":${v},"pad":"${pad}"}`;
    case "number":
      // A plain number carries no time: the agent stamps it on arrival. Padding is blanks.
      return pad === "" ? v : `${v}${" ".repeat(padBytes)}`;
    case "senml": {
      const unit = channel.senmlUnit === "" ? "" : `,"u":"${channel.senmlUnit}"`;
      const extra = pad === "" ? "" : `,"pad":"${pad}"`;
      return `[{"bn":"${channel.device}/","n":"${channel.sensor}"${unit},"t":${ts / 1000},"v":${v}${extra}}]`;
    }
    case "influx": {
      const extra = pad === "" ? "" : `,pad="${pad}"`;
      return `${escapeInflux(channel.device)} ${escapeInflux(channel.sensor)}=${v}${extra} ${ts}000000`;
    }
  }
}

/** Line protocol escapes commas, spaces and equals signs in names. */
function escapeInflux(name: string): string {
  return name.replace(/[, =]/g, (c) => `\\${c}`);
}

/** The broken payloads a `malformed` fault sends, by name; each is a dead letter at the agent. */
export const MALFORMED_VARIANTS = ["truncated", "not-a-number", "garbage", "empty"] as const;
export type MalformedVariant = (typeof MALFORMED_VARIANTS)[number];

export function malformed(
  format: PayloadFormat,
  variant: MalformedVariant,
  channel: Channel,
  ts: number,
  value: number,
): string {
  switch (variant) {
    case "truncated": {
      // A plain number cut short is still a number, so it loses its digits instead; line
      // protocol is cut inside its field, which would otherwise still read as a shorter value.
      if (format === "number") return "-";
      if (format === "influx")
        return `${escapeInflux(channel.device)} ${escapeInflux(channel.sensor).slice(0, Math.ceil(channel.sensor.length / 2))}`;
      const whole = encode(format, channel, ts, value);
      return whole.slice(0, Math.ceil(whole.length / 2));
    }
    case "not-a-number":
      if (format === "json") return `{"ts":${ts},"value":"n/a"}`;
      if (format === "senml")
        return `[{"bn":"${channel.device}/","n":"${channel.sensor}","t":${ts / 1000},"v":"n/a"}]`;
      if (format === "influx")
        return `${escapeInflux(channel.device)} ${escapeInflux(channel.sensor)}=n/a ${ts}000000`;
      return "n/a";
    case "garbage":
      return "@@ sensor reboot 0xDEADBEEF";
    case "empty":
      return "";
  }
}
