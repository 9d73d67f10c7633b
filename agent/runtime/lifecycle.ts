/**
 * The agent's lifecycle as a transition table (CONVENTIONS.md 7), in the way
 * cloud-sync/link.ts does the uplink's:
 *
 *   starting --started--> ready --reload--> reloading --reloaded--> ready
 *   starting --failed--> stopping;  ready | reloading --stop--> stopping --stopped--> stopped
 *
 * Pure: agent.ts asks it whether an event applies before acting on it.
 */
export type AgentState = "starting" | "ready" | "reloading" | "stopping" | "stopped";
export type AgentEvent = "started" | "failed" | "reload" | "reloaded" | "stop" | "stopped";

export const TRANSITIONS: Readonly<Record<AgentState, Partial<Record<AgentEvent, AgentState>>>> = {
  starting: { started: "ready", failed: "stopping", stop: "stopping" },
  ready: { reload: "reloading", stop: "stopping" },
  reloading: { reloaded: "ready", stop: "stopping" },
  stopping: { stopped: "stopped" },
  stopped: {},
};

/** The next state, or undefined when the event does not apply in this state. */
export function nextState(state: AgentState, event: AgentEvent): AgentState | undefined {
  return TRANSITIONS[state][event];
}

/** Holds the current state; `fire` moves it and says whether the event applied. */
export class Lifecycle {
  private current: AgentState = "starting";

  constructor(private readonly onChange: (state: AgentState, previous: AgentState) => void) {}

  get state(): AgentState {
    return this.current;
  }

  fire(event: AgentEvent): boolean {
    const next = nextState(this.current, event);
    if (next === undefined) return false;
    const previous = this.current;
    this.current = next;
    this.onChange(next, previous);
    return true;
  }
}
