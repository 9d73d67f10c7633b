/**
 * Stops what a command started, newest first. Each part registers how to stop it as it
 * starts; one that fails to stop does not keep the others from stopping, and the first
 * failure is thrown once all have run.
 */
export type Stop = () => unknown;

export async function stopAll(stops: Stop[]): Promise<void> {
  let first: unknown;
  for (let stop = stops.pop(); stop !== undefined; stop = stops.pop()) {
    try {
      await stop();
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}
