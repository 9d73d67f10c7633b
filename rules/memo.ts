/**
 * `parse` computed once per string and remembered: for what a rules file names (topic
 * filters, sensor templates, field paths) and every message then uses. At most `max`
 * strings are remembered; beyond them `parse` runs each time, so memory stays bounded
 * whatever the input.
 */
export function parsedOnce<T>(parse: (text: string) => T, max = 1_000): (text: string) => T {
  const parsed = new Map<string, T>();
  return (text) => {
    let value = parsed.get(text);
    if (value === undefined) {
      value = parse(text);
      if (parsed.size < max) parsed.set(text, value);
    }
    return value;
  };
}
