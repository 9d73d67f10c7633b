/**
 * The decode stage: a message from the edge broker → readings, by every source whose
 * topic filter matches it (agent/ingest, each source's decoder compiled once). What cannot
 * be decoded is a dead letter: counted by reason and logged (rate-limited), never thrown.
 */
import { topicMatcher } from "../../rules/topic.js";
import type { CompiledSource } from "../compile/plan.js";
import type { Reading } from "../engine/types.js";
import type { DeadLetterReason, Decoder, DecodeSink } from "../ingest/common.js";
import { DEFAULT_SOURCE, decoderFor } from "../ingest/decode.js";
import type { RateLimitedLog } from "./log.js";
import type { AgentCounters } from "./metrics.js";

/** Where the intake hands each reading, with the name of the source that decoded it. */
export type ReadingHandler = (reading: Reading, source: string) => void;

interface SourceDecoder {
  readonly source: CompiledSource;
  readonly matches: (topic: string) => boolean;
  readonly decode: Decoder;
}

export class Intake implements DecodeSink {
  private decoders: readonly SourceDecoder[] = [];
  /** the message being decoded: where its readings go, and what its dead letters are logged with */
  private handler: ReadingHandler | undefined;
  private source: CompiledSource = DEFAULT_SOURCE;
  private topic = "";

  constructor(
    sources: readonly CompiledSource[],
    private readonly counters: AgentCounters,
    private readonly badPayloads: RateLimitedLog,
  ) {
    this.setSources(sources);
  }

  /** A rules file's sources; none: the default source (JSON on `sensors/<device>/<sensor>`). */
  setSources(sources: readonly CompiledSource[]): void {
    this.decoders = (sources.length === 0 ? [DEFAULT_SOURCE] : sources).map((source) => ({
      source,
      matches: topicMatcher(source.topic),
      decode: decoderFor(source),
    }));
  }

  /**
   * The topic filters to subscribe to at the edge broker. The default source's is wider than
   * its own (`sensors/#`): a topic under sensors/ of the wrong shape then arrives, and is
   * counted as a `bad_topic` dead letter rather than ignored unseen.
   */
  filters(): string[] {
    return [
      ...new Set(
        this.decoders.map((d) => (d.source === DEFAULT_SOURCE ? "sensors/#" : d.source.topic)),
      ),
    ];
  }

  /** Decodes a message; each reading goes to `handler`, each dead letter is counted and logged. */
  decode(topic: string, payload: Buffer, arrivalMs: number, handler: ReadingHandler): void {
    this.handler = handler;
    this.topic = topic;
    let matched = false;
    for (const { source, matches, decode } of this.decoders) {
      if (!matches(topic)) continue;
      matched = true;
      this.source = source;
      decode(topic, payload, arrivalMs, this);
    }
    this.handler = undefined;
    if (!matched) {
      this.counters.deadLetters.bad_topic++;
      this.badPayloads.event(
        { reason: "bad_topic", topic },
        "dead letter: no source for this topic",
      );
    }
  }

  /**
   * Whether each reading of a message carries its own event time: decoded at two arrival
   * times, it gives the same times (and at least one reading). Nothing is counted or handed on.
   */
  carriesTime(topic: string, payload: Buffer, arrivalMs: number): boolean {
    const times = (arrival: number): number[] => {
      const ts: number[] = [];
      const sink: DecodeSink = { reading: (r) => ts.push(r.ts), dead: () => undefined };
      for (const { matches, decode } of this.decoders)
        if (matches(topic)) decode(topic, payload, arrival, sink);
      return ts;
    };
    const a = times(arrivalMs);
    const b = times(arrivalMs + 1);
    return a.length > 0 && a.length === b.length && a.every((t, i) => t === b[i]);
  }

  reading(reading: Reading): void {
    this.handler?.(reading, this.source.name);
  }

  dead(reason: DeadLetterReason, detail: string): void {
    this.counters.deadLetters[reason]++;
    this.badPayloads.event(
      { reason, detail, topic: this.topic, source: this.source.name },
      "dead letter: message not decodable",
    );
  }
}
