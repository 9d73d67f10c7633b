import { MemoryOutbox } from "./memory-outbox.js";
import { outboxSuite } from "./outbox.abstract.js";

outboxSuite("MemoryOutbox", (quota) => new MemoryOutbox(quota));
