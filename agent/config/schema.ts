/** The agent's config file: one schema with its defaults; the TypeScript type is derived from it. */
import { type Static, Type } from "@sinclair/typebox";
import { BYTE_SIZE_PATTERN, DURATION_PATTERN } from "../../rules/duration.js";

const MQTT_URL = "^(mqtts?|wss?|tcp|ssl)://";

/** A byte size: an integer, or a string such as "64MiB" or "512KB". */
function Size(description: string, defaultValue?: string) {
  return Type.Union(
    [
      Type.Integer({ minimum: 1 }),
      Type.String({ pattern: BYTE_SIZE_PATTERN, description: 'a size such as "64MiB" or "512KB"' }),
    ],
    defaultValue === undefined ? { description } : { description, default: defaultValue },
  );
}

export const ConfigSchema = Type.Object(
  {
    device: Type.String({
      minLength: 1,
      pattern: "^[^/+#\\s]+$",
      description:
        "a non-empty id without '/', '+', '#' or spaces (it becomes an MQTT topic level)",
    }),
    edge: Type.Object(
      {
        embedded: Type.Optional(
          Type.Object(
            {
              host: Type.String({ default: "127.0.0.1" }),
              port: Type.Integer({ minimum: 0, maximum: 65535, default: 1883 }),
              auth: Type.Optional(
                Type.Object(
                  {
                    passwords: Type.Optional(
                      Type.String({
                        minLength: 1,
                        description: "credentials file of scrypt hashes (brook passwd)",
                      }),
                    ),
                    allowAnonymous: Type.Optional(
                      Type.Boolean({
                        description:
                          "accept clients without credentials (default: only when no credentials are configured and the broker listens on loopback)",
                      }),
                    ),
                  },
                  { additionalProperties: false },
                ),
              ),
              acl: Type.Optional(
                Type.Array(
                  Type.Object(
                    {
                      user: Type.String({
                        minLength: 1,
                        description: 'a user name, "*" for every authenticated one, or "anonymous"',
                      }),
                      publish: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
                      subscribe: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
                    },
                    { additionalProperties: false },
                  ),
                  {
                    description:
                      "topic filters each client may publish and subscribe to; {user} and {clientid} are filled in",
                  },
                ),
              ),
              tls: Type.Optional(
                Type.Object(
                  {
                    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8883 }),
                    cert: Type.String({ minLength: 1 }),
                    key: Type.String({ minLength: 1 }),
                    ca: Type.Optional(Type.String({ minLength: 1 })),
                    requireClientCert: Type.Boolean({
                      default: false,
                      description:
                        "accept only clients with a certificate signed by ca; its common name is the client's user",
                    }),
                    plain: Type.Unsafe<"loopback" | "everywhere">({
                      type: "string",
                      enum: ["loopback", "everywhere"],
                      default: "loopback",
                      description:
                        "where the plain (unencrypted) listener on port takes connections beside TLS: this machine only (default), or on host as TLS does",
                    }),
                  },
                  { additionalProperties: false },
                ),
              ),
              limits: Type.Object(
                {
                  maxConnections: Type.Integer({ minimum: 1, default: 1_000 }),
                  maxPacketBytes: Size(
                    "the largest MQTT packet a client may send (default 64KiB)",
                    "64KiB",
                  ),
                  publishRate: Type.Number({
                    exclusiveMinimum: 0,
                    default: 10_000,
                    description:
                      "messages per second each client may publish; faster ones are slowed down, not dropped",
                  }),
                  maxQueuedBytes: Size(
                    "payload bytes kept for persistent subscribers (away, or not yet acknowledging), all together; beyond them a delivery is not queued (default 8MiB)",
                    "8MiB",
                  ),
                  maxRetainedBytes: Size(
                    "payload bytes of retained messages, all together; beyond them a message is routed but not retained (default 1MiB)",
                    "1MiB",
                  ),
                },
                { additionalProperties: false, default: {} },
              ),
            },
            { additionalProperties: false },
          ),
        ),
        url: Type.Optional(
          Type.String({ pattern: MQTT_URL, description: "an MQTT URL such as mqtt://host:1883" }),
        ),
        username: Type.Optional(Type.String()),
        password: Type.Optional(Type.String()),
      },
      { additionalProperties: false, default: {} },
    ),
    rules: Type.Optional(Type.String({ minLength: 1 })),
    dataDir: Type.String({ minLength: 1, default: "./data" }),
    uplink: Type.Optional(
      Type.Object(
        {
          url: Type.String({
            pattern: MQTT_URL,
            description: "an MQTT URL such as mqtts://host:8883",
          }),
          clientId: Type.Optional(Type.String({ minLength: 1 })),
          username: Type.Optional(Type.String()),
          password: Type.Optional(Type.String()),
          tls: Type.Optional(
            Type.Object(
              {
                ca: Type.Optional(Type.String()),
                cert: Type.Optional(Type.String()),
                key: Type.Optional(Type.String()),
                servername: Type.Optional(Type.String()),
                rejectUnauthorized: Type.Boolean({ default: true }),
              },
              { additionalProperties: false },
            ),
          ),
          protocol: Type.Unsafe<"5" | "3.1.1">({
            type: "string",
            enum: ["5", "3.1.1"],
            default: "5",
            description: "MQTT version to try first; a broker refusing 5 gets 3.1.1",
          }),
          batchSize: Type.Integer({
            minimum: 1,
            maximum: 10_000,
            default: 100,
            description: "results per MQTT message",
          }),
          maxInFlight: Type.Integer({
            minimum: 1,
            maximum: 1_000,
            default: 16,
            description: "unacknowledged messages at once",
          }),
          compress: Type.Unsafe<"none" | "gzip">({
            type: "string",
            enum: ["none", "gzip"],
            default: "none",
          }),
          maxBytesPerSecond: Type.Optional(Size("bandwidth cap over the uplink, bytes per second")),
          maxBatchBytes: Size(
            "largest message payload, before compression (default 256KiB)",
            "256KiB",
          ),
        },
        { additionalProperties: false },
      ),
    ),
    outbox: Type.Object(
      {
        synchronous: Type.Unsafe<"NORMAL" | "FULL">({
          type: "string",
          enum: ["NORMAL", "FULL"],
          default: "NORMAL",
        }),
        maxBytes: Type.Optional(Size("payload bytes the outbox may hold")),
        maxRows: Type.Optional(Type.Integer({ minimum: 1 })),
        maxAge: Type.Optional(
          Type.String({ pattern: DURATION_PATTERN, description: 'a duration such as "7d"' }),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    readingLog: Type.Object(
      {
        enabled: Type.Boolean({
          default: true,
          description:
            "log every reading before it is acknowledged, and replay the log after a crash",
        }),
        maxBytes: Size(
          "bytes the log may hold since the last checkpoint; beyond them input is held (default 128MiB)",
          "128MiB",
        ),
        synchronous: Type.Unsafe<"NORMAL" | "FULL">({
          type: "string",
          enum: ["NORMAL", "FULL"],
          default: "NORMAL",
          description:
            "NORMAL: a commit survives a crash of the agent; FULL: it is synced to the device first, and survives a power cut",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    state: Type.Object(
      {
        maxBytes: Type.Union(
          [
            Type.Integer({ minimum: 65_536 }),
            Type.String({
              pattern: BYTE_SIZE_PATTERN,
              description: 'a size such as "64MiB" or "512KB"',
            }),
          ],
          { default: "64MiB", description: "memory budget for all window state" },
        ),
        checkpointInterval: Type.String({
          pattern: DURATION_PATTERN,
          default: "30s",
          description: 'a duration such as "30s"',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    maxFuture: Type.String({
      pattern: DURATION_PATTERN,
      default: "5m",
      description: "a duration; readings stamped further ahead of the clock are dead letters",
    }),
    http: Type.Object(
      {
        host: Type.String({ default: "127.0.0.1" }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 9100 }),
        enabled: Type.Boolean({ default: true }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type AgentConfig = Static<typeof ConfigSchema>;
